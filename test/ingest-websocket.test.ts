import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir, waitFor, sleep } from './support/ports.ts';

let gw: GatewayProcess;
let dir: ReturnType<typeof tempDir>;

before(async () => {
  dir = tempDir();
  gw = await new GatewayProcess({ dataDir: dir.path, env: { IOTGW_LOG_LEVEL: 'info' } }).start();
});
after(async () => {
  await gw?.stop();
  dir?.cleanup();
});

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('10,000 readings with seq numbers get exactly 10,000 acks, and are all stored', async () => {
  const ws = await open();
  const acks = new Set<number>();
  let nacks = 0;
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (typeof msg.ack === 'number') {
      assert.ok(!acks.has(msg.ack), `ack ${msg.ack} twice`);
      acks.add(msg.ack);
    } else nacks++;
  });
  const N = 10_000;
  for (let seq = 0; seq < N; seq++) {
    ws.send(JSON.stringify({ device_id: `ws-${seq % 10}`, group_id: 'ws-group', boot_id: 'boot1', seq, v: seq }));
    if (seq % 500 === 499) await waitFor(() => acks.size + nacks >= seq - 1000, 60000, 'acks to keep up');
  }
  await waitFor(() => acks.size + nacks === N, 60000, 'all acks');
  ws.close();
  assert.equal(nacks, 0);
  assert.equal(acks.size, N);
  const stats = (await gw.get('/stats')).body;
  assert.equal(stats.traffic.current_hour.groups['ws-group']?.count ?? stats.traffic.previous_hour?.groups['ws-group']?.count, N);
});

test('a batch message is acked with its envelope seq; bad JSON and bad readings are nacked with the field', async () => {
  const ws = await open();
  const replies: any[] = [];
  ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
  ws.send(JSON.stringify({ seq: 7, readings: [{ device_id: 'wb', group_id: 'g' }, { device_id: 'wb', group_id: 'g' }] }));
  ws.send('{not json');
  ws.send(JSON.stringify({ seq: 9, readings: [{ device_id: 'wb', group_id: 'g' }, { device_id: 'wb' }] }));
  await waitFor(() => replies.length === 3);
  ws.close();
  const byKey = (k: string, v: unknown) => replies.find((r) => r[k] === v);
  assert.deepEqual(byKey('ack', 7), { ack: 7, accepted: 2 });
  assert.equal(replies.find((r) => r.nack === null)?.error.code, 'invalid_json');
  assert.deepEqual(byKey('nack', 9)?.error.path, 'readings[1].group_id');
});

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

test('a client that never reads its acks is paused, not buffered without bound', async () => {
  // A raw socket that completes the handshake and then only writes: it never reads a byte, so
  // the gateway's acks pile up in the kernel buffers and then in ws's send queue.
  const sock = connect(gw.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  sock.pause();
  const baselineRss = rssKb(gw.pid!);
  const before = Number(/iotgw_readings_accepted_total\{transport="ws"\} (\d+)/.exec((await gw.get('/metrics')).body)?.[1] ?? 0);
  let written = 0;
  let blocked = false;
  const deadline = Date.now() + 20000;
  const payload = (i: number) => frame(JSON.stringify({ device_id: 'deaf', group_id: 'g', boot_id: 'b', seq: i, pad: 'x'.repeat(200) }));
  // Write until the gateway stops reading us (our socket's write buffer stays full).
  while (Date.now() < deadline) {
    const ok = sock.write(payload(written++));
    if (!ok) {
      const drained = await Promise.race([new Promise((r) => sock.once('drain', () => r(true))), sleep(2000).then(() => false)]);
      if (!drained) { blocked = true; break; }
    }
  }
  const accepted = Number(/iotgw_readings_accepted_total\{transport="ws"\} (\d+)/.exec((await gw.get('/metrics')).body)?.[1] ?? 0) - before;
  const growthMb = (rssKb(gw.pid!) - baselineRss) / 1024;
  sock.destroy();
  assert.ok(blocked, 'the gateway stopped reading from a client that does not read its acks');
  assert.ok(accepted < written, `accepted ${accepted} of ${written} written: the rest waits in TCP buffers`);
  assert.ok(growthMb < 64, `gateway RSS grew ${growthMb.toFixed(1)} MB`);
  // The gateway still serves everybody else.
  assert.equal((await gw.post('/telemetry', { device_id: 'other', group_id: 'g' })).status, 202);
});

/** A masked client text frame (RFC 6455 requires clients to mask). */
function frame(text: string): Buffer {
  const data = Buffer.from(text);
  const mask = randomBytes(4);
  const len = data.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = data[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, body]);
}
