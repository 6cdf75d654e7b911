import type { Collection } from 'mongodb';
import type { ReadingDoc } from '../reading.ts';
import { isNewer } from './parts.ts';

/**
 * `device_groups`, the original API's summary: one document per `group_id` with the latest
 * reading of each device. The original replaced `devices` with whatever was in Redis, so a device
 * that did not report in the last hour vanished; iotgw merges instead: devices from earlier hours
 * stay, a device's entry is replaced only by a newer reading (`timestamp`), and replaying an upload
 * gives the same result (the merge is order-independent and idempotent).
 */
export interface DeviceGroupDoc {
  group_id: string;
  last_updated: Date;
  created_at: Date;
  devices: Record<string, unknown>[];
}

/** Merges `incoming` (latest per device from one upload) into `current`; devices sorted by id. */
export function mergeDevices(current: readonly Record<string, unknown>[], incoming: Iterable<ReadingDoc>): Record<string, unknown>[] {
  const byId = new Map<string, Record<string, unknown>>();
  const unnamed: Record<string, unknown>[] = [];
  for (const d of current) {
    if (typeof d?.device_id === 'string') {
      const prev = byId.get(d.device_id);
      if (!prev || isNewer(d, prev)) byId.set(d.device_id, d);
    } else if (d && typeof d === 'object') unnamed.push(d); // kept as found: not ours to drop
  }
  for (const d of incoming) {
    const prev = byId.get(d.device_id);
    if (!prev || isNewer(d, prev)) byId.set(d.device_id, d);
  }
  const ids = [...byId.keys()].sort();
  return [...unnamed, ...ids.map((id) => byId.get(id)!)];
}

/**
 * Read-merge-write for one group. Only the uploader writes `device_groups` from this gateway, and
 * passes are serialized, so a read-then-write is safe here; another gateway writing the same group
 * at the same moment could lose one merge, which its next upload repairs (documented in docs/atlas.md).
 */
export async function upsertDeviceGroup(coll: Collection<DeviceGroupDoc>, groupId: string, latest: Iterable<ReadingDoc>, now: Date): Promise<void> {
  const existing = await coll.findOne({ group_id: groupId }, { projection: { devices: 1 } });
  const devices = mergeDevices(Array.isArray(existing?.devices) ? existing.devices : [], latest);
  await coll.updateOne(
    { group_id: groupId },
    { $set: { group_id: groupId, devices, last_updated: now }, $setOnInsert: { created_at: now } },
    { upsert: true, writeConcern: { w: 'majority' } },
  );
}
