/**
 * The gateway's side of over-the-air updates as an operator and a board see it: `iotgw firmware`
 * (the real CLI in a child process) against the data dir and against a running daemon, the
 * offers in the acknowledgements of POST /telemetry and /ws, `GET /firmware/check`, the image
 * route with Range and device keys, and what `GET /devices`, `GET /firmware` and `/metrics` show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir } from './support/ports.ts';
import { esp32Image, sha256, writeImage } from './support/firmware-image.ts';
import { runIotgw } from './support/iotgw-cli.ts';
import { wsRequest } from './support/ws.ts';

const iotgw = (dataDir: string, ...args: string[]) => runIotgw(dataDir, ['firmware', ...args]);

const reading = (device_id: string, group_id: string, extra: Record<string, unknown> = {}) => ({ device_id, group_id, boot_id: 'b1', seq: 1, v: 1, ...extra });

const wsSend = (gw: GatewayProcess, body: unknown) => wsRequest(gw.port, body);

async function download(gw: GatewayProcess, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(gw.url + path, { headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

test('iotgw firmware add refuses bad input with a clear error and publishes nothing', () => {
  const dir = tempDir();
  try {
    const files = tempDir();
    const text = join(files.path, 'notes.bin');
    writeFileSync(text, 'this is not firmware\n');
    const elf = join(files.path, 'firmware.elf');
    writeFileSync(elf, Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(100)]));
    const empty = join(files.path, 'empty.bin');
    writeFileSync(empty, '');
    const big = writeImage(files.path, 'big.bin', esp32Image(1_966_081));
    const good = writeImage(files.path, 'good.bin', esp32Image(50_000, { text: '0.2.0' }));

    const cases: [string[], string, RegExp][] = [
      [['add', text, '--version', '0.2.0'], 'not_an_image', /not an ESP32 app image: the first byte is 0x74, an image starts with 0xE9/],
      [['add', elf, '--version', '0.2.0'], 'not_an_image', /it is an ELF file/],
      [['add', empty, '--version', '0.2.0'], 'image_empty', /the file is empty/],
      [['add', big, '--version', '0.2.0'], 'image_too_large', /1966081 bytes, larger than the board's OTA slot of 1966080 bytes \(min_spiffs\.csv\), firmware\.max_image_bytes/],
      [['add', join(files.path, 'missing.bin'), '--version', '0.2.0'], 'file_not_found', /does not exist/],
      [['add', good, '--version', 'v2'], 'invalid_version', /"v2" is not a semantic version/],
      [['add', good, '--version', '0.2.0', '--group', 'bad group'], 'invalid_group', /group: "bad group"/],
      [['remove', '9.9.9'], 'unknown_version', /version 9.9.9 is not published/],
    ];
    for (const [args, code, message] of cases) {
      const r = iotgw(dir.path, ...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message, args.join(' '));
      assert.ok(r.err.includes(`[${code}]`), `${args.join(' ')} names its code: ${r.err}`);
    }
    assert.equal(iotgw(dir.path, 'add', good).code, 2, 'add without --version is a usage error');
    assert.equal(iotgw(dir.path, 'frobnicate').code, 2);
    assert.deepEqual(JSON.parse(iotgw(dir.path, 'list', '--json').out), { images: [] }, 'nothing was published');

    const ok = iotgw(dir.path, 'add', good, '--version', '0.2.0', '--group', 'A');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.err, '', 'no warning: the image holds the text 0.2.0');
    assert.match(ok.out, /published 0\.2\.0 \(50000 bytes, sha256 [0-9a-f]{64}\) for group A\nno daemon is running/);
    assert.ok(existsSync(join(dir.path, 'firmware', `${sha256(esp32Image(50_000, { text: '0.2.0' }))}.bin`)), 'stored under its SHA-256');
    const dup = iotgw(dir.path, 'add', good, '--version', '0.2.0');
    assert.equal(dup.code, 1);
    assert.match(dup.err, /version 0\.2\.0 is already published .*\[duplicate_version\]/);
    const sameBytes = iotgw(dir.path, 'add', good, '--version', '0.3.0');
    assert.equal(sameBytes.code, 1);
    assert.match(sameBytes.err, /already published as version 0\.2\.0;.*\[duplicate_image\]/);
    // An image that does not hold its version's text is published, with a warning.
    const other = writeImage(files.path, 'other.bin', esp32Image(50_000, { text: '0.4.0', fill: 1 }));
    const warned = iotgw(dir.path, 'add', other, '--version', '0.3.0', '--group', 'B');
    assert.equal(warned.code, 0, warned.err);
    assert.match(warned.err, /warning: the image does not contain the text "0\.3\.0": is --version the IOTGW_FW_VERSION/);
    const list = JSON.parse(iotgw(dir.path, 'list', '--json').out);
    assert.deepEqual(list.images.map((i: any) => [i.version, i.groups, i.rollout]), [['0.3.0', ['B'], 'active'], ['0.2.0', ['A'], 'active']]);
    files.cleanup();
  } finally {
    dir.cleanup();
  }
});

test('a running daemon offers a published image to the boards of its groups that run another version, and serves it with Range', async () => {
  const dir = tempDir();
  const files = tempDir();
  const gw = await new GatewayProcess({ dataDir: dir.path }).start();
  try {
    const image = esp32Image(300_000, { text: '0.2.0' });
    const file = writeImage(files.path, 'fw-0.2.0.bin', image);
    const add = iotgw(dir.path, 'add', file, '--version', '0.2.0', '--group', 'A');
    assert.equal(add.code, 0, add.err);
    assert.match(add.out, new RegExp(`the running daemon \\(pid ${gw.pid}\\) took the change`));
    const offer = { version: '0.2.0', sha256: sha256(image), size: image.length };

    // HTTP: in the 202 body, with Content-Length (the board reads no chunked body).
    const res = await fetch(`${gw.url}/telemetry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(reading('a1', 'A', { fw: '0.1.0' })) });
    assert.equal(res.status, 202);
    assert.ok(res.headers.get('content-length'), 'the 202 has a Content-Length');
    assert.deepEqual(await res.json(), { accepted: 1, duplicates: 0, firmware: offer });
    assert.equal((await gw.post('/telemetry', reading('b1', 'B', { fw: '0.1.0' }))).body.firmware, undefined, 'group B is not targeted');
    assert.equal((await gw.post('/telemetry', reading('a2', 'A', { fw: '0.2.0' }))).body.firmware, undefined, 'a board on the target gets no offer');
    assert.equal((await gw.post('/telemetry', reading('a3', 'A'))).body.firmware, undefined, 'a board that reports no fw gets no offer');
    // A batch: the offer follows its last (newest) reading.
    const batch = await gw.post('/telemetry', { readings: [reading('a4', 'A', { fw: '0.1.0', seq: 1 }), reading('a4', 'A', { fw: '0.2.0', seq: 2, boot_id: 'b2' })] });
    assert.equal(batch.body.firmware, undefined);

    // WebSocket: in the ack, after ack and accepted.
    const ack = await wsSend(gw, { ...reading('a5', 'A', { fw: '0.1.0' }), seq: 7 });
    assert.deepEqual(ack, { ack: 7, accepted: 1, firmware: offer });
    assert.deepEqual(Object.keys(ack), ['ack', 'accepted', 'firmware']);

    // The question a board can ask.
    assert.deepEqual((await gw.get('/firmware/check?device_id=a1&group_id=A&version=0.1.0')).body, { firmware: offer });
    assert.deepEqual((await gw.get('/firmware/check?device_id=b1&group_id=B&version=0.1.0')).body, { firmware: null });
    assert.equal((await gw.get('/firmware/check?device_id=a1&group_id=A')).body.error.code, 'invalid_field');

    // The image: whole, then resumed, then a range past its end.
    const whole = await download(gw, `/firmware/${offer.sha256}.bin?device_id=a1`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('etag'), `"${offer.sha256}"`);
    assert.equal(whole.headers.get('content-length'), String(image.length));
    assert.ok(whole.body.equals(image));
    const rest = await download(gw, `/firmware/${offer.sha256}.bin?device_id=a1`, { range: 'bytes=123456-' });
    assert.equal(rest.status, 206);
    assert.equal(rest.headers.get('content-range'), `bytes 123456-${image.length - 1}/${image.length}`);
    assert.equal(rest.headers.get('content-length'), String(image.length - 123456));
    assert.ok(rest.body.equals(image.subarray(123456)));
    const past = await download(gw, `/firmware/${offer.sha256}.bin`, { range: `bytes=${image.length}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${image.length}`);
    assert.equal(JSON.parse(String(past.body)).error.code, 'range_not_satisfiable');
    const unknown = await download(gw, `/firmware/${'0'.repeat(64)}.bin`);
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(String(unknown.body)).error.code, 'image_not_found');

    // Pause stops the offers, resume brings them back.
    assert.equal(iotgw(dir.path, 'pause', '0.2.0').code, 0);
    assert.equal((await gw.post('/telemetry', reading('a1', 'A', { fw: '0.1.0', seq: 2 }))).body.firmware, undefined, 'paused: no offer');
    assert.equal((await gw.get('/firmware')).body.images[0].rollout, 'paused');
    assert.equal(iotgw(dir.path, 'resume', '0.2.0').code, 0);
    assert.deepEqual((await gw.post('/telemetry', reading('a1', 'A', { fw: '0.1.0', seq: 3 }))).body.firmware, offer);

    // A board that rolled back is not offered the image again, until the operator resumes it.
    const rb = await gw.post('/telemetry', reading('a1', 'A', { fw: '0.1.0', seq: 4, fw_update: { state: 'rolled_back', version: '0.2.0', reason: 'the new image could not report' } }));
    assert.equal(rb.status, 202);
    assert.equal(rb.body.firmware, undefined, 'no offer in the answer to the rollback report itself');
    assert.equal((await gw.post('/telemetry', reading('a1', 'A', { fw: '0.1.0', seq: 5 }))).body.firmware, undefined);
    assert.deepEqual((await gw.post('/telemetry', reading('a5', 'A', { fw: '0.1.0', seq: 5 }))).body.firmware, offer, 'other boards still are');
    const a1 = (await gw.get('/devices/a1')).body;
    assert.deepEqual({ ...a1.firmware, at: undefined }, { version: '0.1.0', target: '0.2.0', state: 'rolled_back', reason: 'the new image could not report', at: undefined });
    const listed = (await gw.get('/firmware')).body.images[0];
    assert.deepEqual(listed.refused, { a1: 'rolled_back' });
    assert.equal(listed.devices.rolled_back, 1);
    const metrics = (await gw.get('/metrics')).body as string;
    assert.match(metrics, /iotgw_firmware_devices\{state="rolled_back"\} 1/);
    assert.match(metrics, /iotgw_firmware_downloads_total\{result="complete"\} 2/);
    const cliList = iotgw(dir.path, 'list');
    assert.match(cliList.out, /not offered again to a1 \(rolled_back\)/);
    assert.equal(iotgw(dir.path, 'resume', '0.2.0').code, 0);
    assert.deepEqual((await gw.post('/telemetry', reading('a1', 'A', { fw: '0.1.0', seq: 6 }))).body.firmware, offer, 'resume offers it again');

    // Remove: no more offers, the file is gone, the route answers 404.
    const rm = iotgw(dir.path, 'remove', '0.2.0');
    assert.equal(rm.code, 0, rm.err);
    assert.equal((await gw.post('/telemetry', reading('a1', 'A', { fw: '0.1.0', seq: 7 }))).body.firmware, undefined);
    assert.equal((await download(gw, `/firmware/${offer.sha256}.bin`)).status, 404);
    assert.equal(existsSync(join(dir.path, 'firmware', `${offer.sha256}.bin`)), false);
  } finally {
    await gw.stop();
    files.cleanup();
    dir.cleanup();
  }
});

test('with device keys, the image needs the key of the device that fetches it; GET /firmware follows the read token', async () => {
  const dir = tempDir();
  const files = tempDir();
  const gw = await new GatewayProcess({ dataDir: dir.path, config: { http: { read_token: 'reader-token-1' }, ingest: { auth: { mode: 'keys', device_keys: { a1: 'key-of-a1-xxxx', a2: 'key-of-a2-xxxx' } } } } }).start();
  try {
    const image = esp32Image(20_000, { text: '0.2.0' });
    assert.equal(iotgw(dir.path, 'add', writeImage(files.path, 'fw.bin', image), '--version', '0.2.0').code, 0);
    const path = `/firmware/${sha256(image)}.bin?device_id=a1`;
    assert.equal((await download(gw, path)).status, 401, 'no key');
    assert.equal((await download(gw, path, { authorization: 'Bearer key-of-a2-xxxx' })).status, 401, "another device's key");
    const ok = await download(gw, path, { authorization: 'Bearer key-of-a1-xxxx' });
    assert.equal(ok.status, 200);
    assert.ok(ok.body.equals(image));
    assert.equal((await gw.get('/firmware/check?device_id=a1&group_id=A&version=0.1.0')).status, 401);
    assert.equal((await gw.get('/firmware')).status, 401, 'the rollout list needs the read token');
    const listed = await fetch(`${gw.url}/firmware`, { headers: { authorization: 'Bearer reader-token-1' } });
    assert.equal(listed.status, 200);
    assert.equal((await listed.json()).images[0].version, '0.2.0');
  } finally {
    await gw.stop();
    files.cleanup();
    dir.cleanup();
  }
});
