import type { Collection, Document } from 'mongodb';
import type { ReadingDoc } from '../reading.ts';

/**
 * `device_groups`, the original API's summary: one document per `group_id` with the latest
 * reading of each device. The original replaced `devices` with whatever was in Redis, so a device
 * that did not report in the last hour vanished; iotgw merges instead: devices from earlier hours
 * stay, a device's entry is replaced only by a newer reading, and replaying an upload gives the
 * same result (the merge is order-independent and idempotent).
 *
 * The merge runs inside Atlas, as one aggregation-pipeline update of the group's document, so two
 * gateways updating the same group at the same moment cannot lose each other's devices (a read,
 * a merge here and a write back could), and values the gateway never reads keep their BSON types
 * (an int64 a legacy writer stored stays an int64).
 */
export interface DeviceGroupDoc {
  group_id: string;
  last_updated: Date;
  created_at: Date;
  devices: Record<string, unknown>[];
}

/**
 * The pipeline that merges `incoming` (the latest reading per device of one upload) into a
 * group's document, or creates it (with `upsert`):
 * - `devices`: one entry per `device_id`, the one with the greater `timestamp` (ISO 8601 in UTC,
 *   which compares as a string; on a tie the entry already there stays, so a replay changes
 *   nothing); entries without a string `device_id` are kept as found; sorted by `device_id`;
 * - `last_updated`: `$max` of the stored value and `now` (a slower gateway's clock never moves it back);
 * - `created_at`: set when the document has none (on insert).
 * Incoming documents are passed as `$literal`, so a metric value such as `"$x"` stays a string.
 */
export function deviceGroupsPipeline(incoming: readonly ReadingDoc[], now: Date): Document[] {
  const sameDevice = { $eq: ['$$p.device_id', '$$this.device_id'] };
  const merged = {
    $reduce: {
      input: { $concatArrays: [{ $ifNull: ['$devices', []] }, { $literal: incoming }] },
      initialValue: [],
      in: {
        $cond: [
          { $ne: [{ $type: '$$this.device_id' }, 'string'] },
          { $concatArrays: ['$$value', ['$$this']] },
          {
            $let: {
              vars: { same: { $filter: { input: '$$value', as: 'p', cond: sameDevice } } },
              in: {
                $cond: [
                  { $or: [{ $eq: [{ $size: '$$same' }, 0] }, { $gt: ['$$this.timestamp', { $arrayElemAt: ['$$same.timestamp', 0] }] }] },
                  { $concatArrays: [{ $filter: { input: '$$value', as: 'p', cond: { $not: [sameDevice] } } }, ['$$this']] },
                  '$$value',
                ],
              },
            },
          },
        ],
      },
    },
  };
  return [{
    $set: {
      devices: { $sortArray: { input: merged, sortBy: { device_id: 1 } } },
      last_updated: { $max: ['$last_updated', now] },
      created_at: { $ifNull: ['$created_at', now] },
    },
  }];
}

/** Merges one upload's latest readings into the group's document, atomically in Atlas (w: majority). */
export async function upsertDeviceGroup(coll: Collection<DeviceGroupDoc>, groupId: string, latest: Iterable<ReadingDoc>, now: Date): Promise<void> {
  await coll.updateOne({ group_id: groupId }, deviceGroupsPipeline([...latest], now), { upsert: true, writeConcern: { w: 'majority' } });
}
