import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir, waitFor, sleep } from './support/ports.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MAX_BUFFERED = 64 * 1024;
let gw: GatewayProcess;
let dir: ReturnType<typeof tempDir>;

before(async () => {
  dir = tempDir();
  // A 10,000-reading burst from 10 devices is far past the default per-device rate; that limit
  // has its own test (ingest-auth), here it is off.
  gw = await new GatewayProcess({ dataDir: dir.path, config: { ingest: { rate_limit: { per_device_per_second: 0 }, ws: { max_buffered_bytes: MAX_BUFFERED } } } }).start();
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
  const metrics = String((await gw.get('/metrics')).body);
  assert.match(metrics, /iotgw_readings_rejected_total\{reason="invalid_json"\} 1\n/, 'a nack for bad JSON is counted');
  assert.match(metrics, /iotgw_readings_rejected_total\{reason="missing_field"\} 1\n/, 'a nacked reading is counted once');
});

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

test('a client that never reads its acks is paused, not buffered without bound', async (t) => {
  const metric = async (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(String((await gw.get('/metrics')).body))?.[1] ?? NaN);
  const acceptedBefore = await metric('iotgw_readings_accepted_total');
  const rssBefore = rssKb(gw.pid!);
  // The client holds its connection open after it stalls, so we can look at the gateway's queue.
  const client = spawn('python3', [join(here, 'support/deaf-ws-client.py'), String(gw.port), '400000', '3'], { env: { ...process.env, HOLD_SECONDS: '30' } });
  const line = await new Promise<string>((resolve, reject) => {
    client.stdout.once('data', (d) => resolve(d.toString()));
    client.once('exit', (code) => reject(new Error(`client exited ${code}`)));
  });
  const { written, blocked } = JSON.parse(line);
  const queued = await metric('iotgw_ws_send_queue_bytes');
  const accepted = (await metric('iotgw_readings_accepted_total')) - acceptedBefore;
  const growthMb = (rssKb(gw.pid!) - rssBefore) / 1024;
  t.diagnostic(`client wrote ${written} messages, gateway accepted ${accepted}, ack queue ${queued} bytes, RSS grew ${growthMb.toFixed(1)} MB`);
  client.kill();
  assert.equal(blocked, true, 'the gateway stopped reading from a client that does not read its acks');
  assert.ok(written < 400000, 'blocked well before the client ran out of messages');
  // The limit plus the acks of messages already read from the socket when the pause took effect.
  assert.ok(queued <= 2 * MAX_BUFFERED, `ack queue ${queued} bytes is bounded by ingest.ws.max_buffered_bytes`);
  assert.ok(growthMb < 64, `gateway RSS grew ${growthMb.toFixed(1)} MB`);
  // The gateway still serves everybody else.
  assert.equal((await gw.post('/telemetry', { device_id: 'other', group_id: 'g' })).status, 202);
});
