import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Long, MongoClient, type Collection } from 'mongodb';
import { atlasContents, makeReadings, openHarness, type Harness } from './support/upload-driver.ts';
import { hourAgo, uploadSuite } from './support/upload-suite.ts';
import { upsertDeviceGroup, type DeviceGroupDoc } from '../gateway/upload/device-groups.ts';
import type { Reading } from '../gateway/reading.ts';

// device_groups by one atomic aggregation-pipeline update (issue 21, item 3): the merge rules,
// two gateways uploading the same group at once, and legacy values that keep their BSON types.

const suite = uploadSuite('groups');
const { freshDb } = suite;

const reading = (device_id: string, cpu: number, timestamp: string) => ({ device_id, group_id: 'g', cpu, timestamp, status: 'online' as const });

test('the merge keeps old devices, takes newer readings, keeps created_at, and is idempotent and order-independent', async () => {
  const coll = suite.client.db(freshDb()).collection<DeviceGroupDoc>('device_groups');
  const old = [reading('a', 1, '2026-11-23T15:00:00.000Z'), reading('b', 2, '2026-11-23T15:00:00.000Z'), reading('c', 9, '2026-11-23T18:00:00.000Z')];
  const incoming = [reading('b', 20, '2026-11-23T17:10:00.000Z'), reading('c', 90, '2026-11-23T17:10:00.000Z'), reading('d', 4, '2026-11-23T17:10:00.000Z')];
  const t1 = new Date('2026-11-23T18:00:00Z');
  const t2 = new Date('2026-11-23T19:00:00Z');
  const read = async (c: Collection<DeviceGroupDoc>) => (await c.findOne({ group_id: 'g' }, { projection: { _id: 0 } }))!;
  await upsertDeviceGroup(coll, 'g', old, t1);
  await upsertDeviceGroup(coll, 'g', incoming, t2);
  const merged = await read(coll);
  assert.deepEqual(merged.devices.map((d) => [d.device_id, d.cpu]), [['a', 1], ['b', 20], ['c', 9], ['d', 4]]);
  assert.deepEqual([merged.created_at, merged.last_updated], [t1, t2]);
  await upsertDeviceGroup(coll, 'g', incoming, t2);
  assert.deepEqual(await read(coll), merged, 'replaying the same upload changes nothing');
  // The other order, and an older clock: the same devices, created_at and last_updated.
  const other = suite.client.db(freshDb()).collection<DeviceGroupDoc>('device_groups');
  await upsertDeviceGroup(other, 'g', incoming, t2);
  await upsertDeviceGroup(other, 'g', old, t1);
  const reversed = await read(other);
  assert.deepEqual(reversed.devices, merged.devices);
  assert.deepEqual(reversed.last_updated, t2, '$max: an older clock never moves last_updated back');
  assert.deepEqual(reversed.created_at, t2, 'created_at is set once, on insert');
  // A metric value that looks like a field path stays a string.
  await upsertDeviceGroup(other, 'g', [{ ...reading('e', 1, '2026-11-23T19:00:00.000Z'), note: '$devices' }], t2);
  assert.equal((await read(other)).devices.find((d) => d.device_id === 'e')?.note, '$devices');
});

/** Readings of `devices` devices in group `shared`, named per gateway so the two sites' devices differ. */
function siteReadings(site: string, window: number, tag: string): Reading[] {
  return makeReadings(12, { start: window + 1000, tag, groups: 1, devices: 3 }).map((r) => {
    const device_id = `${site}-${r.device_id}`;
    return { ...r, device_id, group_id: 'shared', doc: { ...r.doc, device_id, group_id: 'shared' } };
  });
}

test('two gateways uploading the same group at the same moment: both sites\' devices are in device_groups', { skip: !!process.env.MONGODB_URI && 'needs the wire server (delays)' }, async () => {
  const db = freshDb();
  const sites: Harness[] = [];
  try {
    for (const site of ['north', 'south']) sites.push(await openHarness({ mongoUri: suite.mongo.uri, database: db, overrides: { gateway_id: `gw-${site}` } }));
    const w = hourAgo(2);
    await sites[0].buffer.append(siteReadings('north', w, 'n'));
    await sites[1].buffer.append(siteReadings('south', w, 's'));
    // Both device_groups writes wait until both gateways have got that far: a merge that read the
    // document first and wrote it back would now drop the other site's devices.
    suite.mongo.server!.faults.delayMs = 400;
    suite.mongo.server!.faults.delayFilter = (name, body) => (name === 'update' || name === 'find') && (body.update === 'device_groups' || body.find === 'device_groups');
    const reports = await Promise.all(sites.map((h) => h.uploader.runOnce()));
    suite.mongo.server!.faults.reset();
    for (const r of reports) assert.equal(r.error, null);
    const { groups, rids } = await atlasContents(suite.mongo.uri, db);
    assert.equal(rids.length, 24);
    assert.equal(groups.length, 1);
    assert.deepEqual(groups[0].devices.map((d: { device_id: string }) => d.device_id), ['north-dev-000', 'north-dev-001', 'north-dev-002', 'south-dev-000', 'south-dev-001', 'south-dev-002']);
  } finally {
    suite.mongo.server?.faults.reset();
    for (const h of sites) await h.cleanup();
  }
});

test('values a legacy writer stored as int64 stay int64 after the gateway merged its devices in', async () => {
  const db = freshDb();
  await suite.client.db(db).collection('device_groups').insertOne({
    group_id: 'grp-0', created_at: new Date(0), last_updated: new Date(0),
    devices: [{ device_id: 'legacy-1', group_id: 'grp-0', uptime_ms: Long.fromNumber(86_400_000_123), boot_count: Long.fromNumber(7), timestamp: '2025-01-01T00:00:00.000000', status: 'online' }],
  });
  const h = await openHarness({ mongoUri: suite.mongo.uri, database: db });
  try {
    await h.buffer.append(makeReadings(6, { start: hourAgo(2) + 1000, tag: 'i64', groups: 1, devices: 2 }));
    assert.equal((await h.uploader.runOnce()).error, null);
  } finally {
    await h.cleanup();
  }
  const raw = new MongoClient(suite.mongo.uri, { promoteLongs: false });
  try {
    const g = await raw.db(db).collection('device_groups').findOne({ group_id: 'grp-0' });
    assert.deepEqual(g!.devices.map((d: { device_id: string }) => d.device_id), ['dev-000', 'dev-001', 'legacy-1']);
    const legacy = g!.devices[2];
    assert.ok(legacy.uptime_ms instanceof Long && legacy.uptime_ms.toNumber() === 86_400_000_123, 'int64, not a double');
    assert.ok(legacy.boot_count instanceof Long && legacy.boot_count.toNumber() === 7, 'int64, not an int32');
  } finally {
    await raw.close();
  }
});
