/**
 * The rollout's decisions on a real data dir (images on disk, the catalogue file): which image a
 * group's boards should run, when they are offered it, what a board's reports change, and what
 * survives a restart (a new store on the same dir). Also the image checks and the Range parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareStore } from '../gateway/firmware/image-store.ts';
import { Rollout } from '../gateway/firmware/rollout.ts';
import { checkImage } from '../gateway/firmware/image-header.ts';
import { byteRange } from '../gateway/firmware/range.ts';
import { CatalogueError } from '../gateway/firmware/catalogue.ts';
import { validVersion } from '../gateway/firmware/version.ts';
import { createLogger } from '../gateway/log.ts';
import type { Reading } from '../gateway/reading.ts';
import { tempDir } from './support/ports.ts';
import { esp32Image, writeImage } from './support/firmware-image.ts';

const log = createLogger('silent');

function reading(device_id: string, group_id: string, doc: Record<string, unknown>): Reading {
  return { id: `dev:${device_id}/b/1`, device_id, group_id, window: 0, received_at: Date.now(), doc: { device_id, group_id, timestamp: '', status: 'online', ...doc } };
}

async function setup() {
  const dir = tempDir();
  const store = new FirmwareStore(dir.path);
  const rollout = new Rollout(store, () => 2, log);
  let n = 0;
  const publish = (version: string, groups: string[] = []) => store.add({ file: writeImage(dir.path, `in-${n}.bin`, esp32Image(4096, { fill: n++, text: version })), version, groups });
  return { dir, store, rollout, publish };
}

test('targets: an image naming the group beats one for every board; the newest published wins; a paused image stays the target but is not offered', async () => {
  const { dir, store, rollout, publish } = await setup();
  try {
    await publish('1.0.0');
    await publish('1.1.0', ['A']);
    assert.equal(rollout.target('A')?.version, '1.1.0');
    assert.equal(rollout.target('B')?.version, '1.0.0');
    await publish('1.2.0');
    assert.equal(rollout.target('A')?.version, '1.1.0', 'a newer image for every board does not override one naming the group');
    assert.equal(rollout.target('B')?.version, '1.2.0');
    store.pause('1.1.0');
    assert.equal(rollout.target('A')?.version, '1.1.0');
    assert.equal(rollout.offerFor('a1', 'A', '1.0.0'), null, 'paused: no offer, and not the older image instead');
    store.resume('1.1.0');
    assert.equal(rollout.offerFor('a1', 'A', '1.0.0')?.version, '1.1.0');
    assert.equal(rollout.offerFor('a1', 'A', '1.1.0'), null);
    assert.equal(rollout.offerFor('a1', 'A', undefined), null, 'a board that reports no fw is not offered anything');
    assert.equal(rollout.offerFor('a1', 'A', '9.9.9')?.version, '1.1.0', 'newer or older: the target is offered (that is how remove rolls back)');
    store.remove('1.1.0');
    assert.equal(rollout.offerFor('a1', 'A', '1.1.0')?.version, '1.2.0', 'removed: the group falls back to the image for every board');
  } finally {
    dir.cleanup();
  }
});

test('reports: rolled_back refuses at once, failed after max_failures distinct attempts, a mismatched version after updated; resume clears; all of it survives a restart', async () => {
  const { dir, store, rollout, publish } = await setup();
  try {
    const img = await publish('2.0.0');
    rollout.observe([reading('r1', 'G', { fw: '1.0.0', fw_update: { state: 'rolled_back', version: '2.0.0', reason: 'x' } })]);
    assert.equal(rollout.offerFor('r1', 'G', '1.0.0'), null);

    // The same failure repeated in several readings (until one is acked) is one attempt.
    const failed = reading('f1', 'G', { fw: '1.0.0', fw_update: { state: 'failed', version: '2.0.0', reason: 'sha256 mismatch' } });
    rollout.observe([failed, failed]);
    rollout.observe([failed]);
    assert.deepEqual(store.find('2.0.0')?.failures, { f1: 1 });
    assert.ok(rollout.offerFor('f1', 'G', '1.0.0'), 'one failure: still offered');
    rollout.downloadStarted('f1', img.sha256);
    rollout.observe([failed]);
    assert.equal(rollout.offerFor('f1', 'G', '1.0.0'), null, 'max_failures (2) reached');

    rollout.observe([reading('m1', 'G', { fw: '1.9.9', fw_update: { state: 'updated', version: '2.0.0' } })]);
    assert.equal(rollout.offerFor('m1', 'G', '1.9.9'), null, 'updated but reports another version: no update loop');
    rollout.observe([reading('ok', 'G', { fw: '2.0.0', fw_update: { state: 'updated', version: '2.0.0' } })]);

    const again = new Rollout(new FirmwareStore(dir.path), () => 2, log);
    assert.deepEqual(again.target('G')?.refused, { r1: 'rolled_back', f1: 'failed', m1: 'version_mismatch' }, 'refusals are in the catalogue');
    assert.equal(again.offerFor('r1', 'G', '1.0.0'), null);
    store.resume('2.0.0');
    assert.ok(rollout.offerFor('r1', 'G', '1.0.0'));
    assert.ok(rollout.offerFor('f1', 'G', '1.0.0'));
    assert.deepEqual(store.find('2.0.0')?.failures, {});
  } finally {
    dir.cleanup();
  }
});

test('a SHA-256 mismatch report makes the gateway hash its own copy once: intact, nothing changes; rotted, no board is offered it', async () => {
  const { dir, store, rollout, publish } = await setup();
  try {
    const img = await publish('3.0.0');
    const mismatch = (device: string) => reading(device, 'G', { fw: '1.0.0', fw_update: { state: 'failed', version: '3.0.0', reason: 'sha256 mismatch' } });
    rollout.observe([mismatch('t1')]);
    assert.equal(await rollout.verify(img), true, 'the copy is intact: damaged on the way');
    assert.equal(store.find('3.0.0')?.damaged, null);
    assert.ok(rollout.offerFor('t2', 'G', '1.0.0'));

    const path = store.pathOf(img.sha256);
    const bytes = readFileSync(path);
    bytes[100] ^= 1;
    writeFileSync(path, bytes);
    rollout.observe([mismatch('t3')]);
    assert.equal(await rollout.verify(img), false);
    assert.match(String(store.find('3.0.0')?.damaged), /the gateway's copy has SHA-256 [0-9a-f]{12}…, not the published/);
    assert.equal(rollout.offerFor('t2', 'G', '1.0.0'), null, 'offered to no board');
    assert.equal(new FirmwareStore(dir.path).find('3.0.0')?.damaged, store.find('3.0.0')?.damaged, 'kept in the catalogue');
  } finally {
    dir.cleanup();
  }
});

test('the catalogue is written whole (no temporary files left), and a broken one is a named error', async () => {
  const { dir, publish } = await setup();
  try {
    await publish('1.0.0');
    await publish('1.0.1', ['X']);
    const files = readdirSync(join(dir.path, 'firmware')).sort();
    assert.equal(files.filter((f) => f.endsWith('.bin')).length, 2);
    assert.deepEqual(files.filter((f) => !f.endsWith('.bin')), ['catalogue.json']);
    assert.equal(JSON.parse(readFileSync(join(dir.path, 'firmware', 'catalogue.json'), 'utf8')).images.length, 2);
    writeFileSync(join(dir.path, 'firmware', 'catalogue.json'), '{"images": [');
    assert.throws(() => new FirmwareStore(dir.path), (e: unknown) => e instanceof CatalogueError && /catalogue\.json: not valid JSON/.test(e.message));
  } finally {
    dir.cleanup();
  }
});

test('image checks, versions and ranges', () => {
  const img = esp32Image(4096);
  assert.doesNotThrow(() => checkImage(img.subarray(0, 32), img.length));
  const code = (f: () => void) => { try { f(); return null; } catch (e) { return (e as { code: string }).code; } };
  const bad = Buffer.from(img);
  bad[1] = 0;
  assert.equal(code(() => checkImage(bad.subarray(0, 32), bad.length)), 'not_an_image', 'no segments');
  const long = Buffer.from(img);
  long.writeUInt32LE(10_000, 28);
  assert.equal(code(() => checkImage(long.subarray(0, 32), long.length)), 'not_an_image', 'a segment longer than the file');
  assert.equal(code(() => checkImage(img.subarray(0, 20), 20)), 'not_an_image', 'shorter than a header');
  assert.equal(code(() => checkImage(img.subarray(0, 32), 5000, 4096)), 'image_too_large');
  for (const v of ['0.2.0', '1.0.0-rc.1', '1.0.0+build.5', '10.20.30']) assert.ok(validVersion(v), v);
  for (const v of ['v1.0.0', '1.0', '01.0.0', '1.0.0-01', '1.0.0-', `1.0.0-${'x'.repeat(30)}`]) assert.ok(!validVersion(v), v);
  assert.deepEqual(byteRange(undefined, 100), { start: 0, end: 99, partial: false });
  assert.deepEqual(byteRange('bytes=40-', 100), { start: 40, end: 99, partial: true });
  assert.deepEqual(byteRange('bytes=40-49', 100), { start: 40, end: 49, partial: true });
  assert.deepEqual(byteRange('bytes=40-1000', 100), { start: 40, end: 99, partial: true });
  for (const h of ['bytes=100-', 'bytes=-10', 'bytes=5-2', 'items=1-', 'bytes=1-2,4-5']) assert.equal(code(() => byteRange(h, 100)), 'range_not_satisfiable', h);
});
