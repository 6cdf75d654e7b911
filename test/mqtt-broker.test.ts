/**
 * The embedded MQTT broker of an in-process gateway on a free port, driven by MQTT.js clients
 * over real sockets: QoS 1 acknowledgements, what is stored, ordinary broker behaviour for other
 * topics, MQTT over WebSocket. Bad input and device keys: mqtt-refusals.test.ts; kill -9:
 * mqtt-crash.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startGateway, getJson } from './support/in-process.ts';
import { storedReadingIds, countById } from './support/buffer-inspect.ts';
import { connectMqtt, metricValue, pubackCounter, reading } from './support/mqtt.ts';
import { ORIGINAL_SKETCH_READING } from './support/payloads.ts';
import { waitFor } from './support/ports.ts';

let gw: Awaited<ReturnType<typeof startGateway>>;
let mqttUrl: string;
const open: MqttClient[] = [];
const client = async (opts: Parameters<typeof connectMqtt>[1] = {}, url = mqttUrl): Promise<MqttClient> => {
  const c = await connectMqtt(url, opts);
  open.push(c);
  return c;
};

before(async () => {
  gw = await startGateway({ 'mqtt.listen_port': 0 });
  mqttUrl = `mqtt://127.0.0.1:${gw.gw.mqttPort}`;
});
after(async () => {
  for (const c of open) await c.endAsync(true);
  await gw?.stop();
});

test('1,000 QoS 1 messages from 10 clients get 1,000 PUBACKs and are stored once each', async () => {
  const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => client({ clientId: `load-${i}` })));
  const pubacks = clients.map(pubackCounter);
  await Promise.all(clients.map((c, i) => Promise.all(Array.from({ length: 100 }, (_, seq) =>
    c.publishAsync(`iotgw/load/board-${i}/telemetry`, reading('boot-1', seq), { qos: 1 })))));
  assert.equal(pubacks.reduce((n, p) => n + p.total, 0), 1000, 'one PUBACK per message');
  for (const p of pubacks) assert.ok([...p.ids.values()].every((n) => n === 1), 'no packet id acknowledged twice');

  const stored = countById(await storedReadingIds({ sqlitePath: join(gw.dataDir, 'buffer.db') }));
  for (let i = 0; i < 10; i++) {
    for (let seq = 0; seq < 100; seq++) assert.equal(stored.get(`dev:board-${i}/boot-1/${seq}`), 1, `board-${i} seq ${seq} stored once`);
  }
  assert.equal(await metricValue(gw.url, 'iotgw_readings_accepted_total{transport="mqtt"}'), 1000, 'counted under transport="mqtt"');
  const readings = (await getJson(`${gw.url}/devices/board-3/readings?limit=1000`)).body.readings;
  assert.equal(readings.length, 100);
  assert.deepEqual(Object.keys(readings[0]).sort(), ['boot_id', 'device_id', 'group_id', 'seq', 'status', 'temp_c', 'timestamp'], 'the topic supplied device_id and group_id');
  assert.equal(readings[0].group_id, 'load');
});

test('the original sketch reading, a batch and {"readings": [...]} are taken as POST /telemetry takes them; a resend is stored once', async () => {
  const c = await client({ clientId: 'shapes' });
  const { device_id, group_id } = ORIGINAL_SKETCH_READING;
  await c.publishAsync(`iotgw/${group_id}/${device_id}/telemetry`, JSON.stringify(ORIGINAL_SKETCH_READING), { qos: 1 });
  const cache = (await getJson(`${gw.url}/redis`)).body.devices.find((d: any) => d.device_id === device_id);
  for (const [k, v] of Object.entries(ORIGINAL_SKETCH_READING)) assert.deepEqual(cache[k], v, k);

  const batch = [0, 1, 2].map((seq) => ({ boot_id: 'bb', seq, v: seq }));
  await c.publishAsync('iotgw/shapes/batcher/telemetry', JSON.stringify(batch), { qos: 1 });
  await c.publishAsync('iotgw/shapes/batcher/telemetry', JSON.stringify({ readings: batch }), { qos: 1 });
  const r = (await getJson(`${gw.url}/devices/batcher/readings?limit=100`)).body.readings;
  assert.deepEqual(r.map((x: any) => x.seq).sort(), [0, 1, 2], 'the second copy is a duplicate, stored once');
  assert.equal(await metricValue(gw.url, 'iotgw_readings_duplicate_total'), 3);
});

test('QoS 0 is taken without an acknowledgement, on a best-effort basis', async () => {
  const c = await client({ clientId: 'qos0' });
  c.publish('iotgw/q0/fire-and-forget/telemetry', reading('b0', 1), { qos: 0 });
  const r = await waitFor(async () => (await getJson(`${gw.url}/devices/fire-and-forget/readings`)).body.readings?.[0], 10_000, 'the QoS 0 reading');
  assert.equal(r.seq, 1);
});

test('QoS 2 is taken too: the publish completes once the reading is stored', async () => {
  const c = await client({ clientId: 'qos2' });
  await c.publishAsync('iotgw/q2/exactly/telemetry', reading('b2', 7), { qos: 2 });
  assert.equal((await getJson(`${gw.url}/devices/exactly/readings`)).body.readings[0].seq, 7);
});

test('other topics are an ordinary broker\'s: subscriptions and retained messages work, and intake never sees them', async () => {
  const accepted = await metricValue(gw.url, 'iotgw_readings_accepted_total{transport="mqtt"}');
  const publisher = await client({ clientId: 'home-pub' });
  await publisher.publishAsync('home/lights/state', 'on', { qos: 1, retain: true });
  const late = await client({ clientId: 'home-sub' });
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  late.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await late.subscribeAsync('home/#', { qos: 1 });
  await publisher.publishAsync('home/door', 'closed', { qos: 1 });
  await waitFor(() => got.length >= 2, 10_000, 'the retained and the live message');
  assert.deepEqual(got.find((m) => m.topic === 'home/lights/state'), { topic: 'home/lights/state', payload: 'on', retain: true });
  assert.deepEqual(got.find((m) => m.topic === 'home/door'), { topic: 'home/door', payload: 'closed', retain: false });
  assert.equal(await metricValue(gw.url, 'iotgw_readings_accepted_total{transport="mqtt"}'), accepted, 'nothing reached intake');
  assert.equal((await getJson(`${gw.url}/devices/door`)).status, 404);
});

test('a subscriber to the telemetry topics sees each reading that was acknowledged', async () => {
  const watcher = await client({ clientId: 'dashboard' });
  const seen: string[] = [];
  watcher.on('message', (topic) => seen.push(topic));
  await watcher.subscribeAsync('iotgw/+/+/telemetry', { qos: 1 });
  const board = await client({ clientId: 'watched-board' });
  await board.publishAsync('iotgw/watched/board-w/telemetry', reading('bw', 1), { qos: 1 });
  await waitFor(() => seen.includes('iotgw/watched/board-w/telemetry'), 10_000, 'the reading routed to the subscriber');
});

test('a retained reading is stored and retained; an empty retained message clears it without being taken for a reading', async () => {
  const board = await client({ clientId: 'retainer' });
  await board.publishAsync('iotgw/ret/board-r/telemetry', reading('br', 1), { qos: 1, retain: true });
  assert.equal((await getJson(`${gw.url}/devices/board-r/readings`)).body.readings.length, 1);
  const retainedFor = async (id: string): Promise<string[]> => {
    const sub = await client({ clientId: id });
    const got: string[] = [];
    sub.on('message', (_t, payload, packet) => { if (packet.retain) got.push(payload.toString()); });
    await sub.subscribeAsync('iotgw/ret/board-r/telemetry', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    return got;
  };
  assert.equal(JSON.parse((await retainedFor('late-1'))[0]).seq, 1, 'the late subscriber gets the retained reading');
  const refusedBefore = await metricValue(gw.url, 'iotgw_readings_rejected_total{reason="invalid_json"}');
  await board.publishAsync('iotgw/ret/board-r/telemetry', '', { qos: 1, retain: true });
  assert.deepEqual(await retainedFor('late-2'), [], 'nothing retained any more');
  assert.equal(await metricValue(gw.url, 'iotgw_readings_rejected_total{reason="invalid_json"}'), refusedBefore, 'the empty payload was not refused as a reading');
  assert.equal((await getJson(`${gw.url}/devices/board-r/readings`)).body.readings.length, 1);
});

test('MQTT over WebSocket at /mqtt on the HTTP port', async () => {
  const c = await client({ clientId: 'ws-board' }, `ws://127.0.0.1:${new URL(gw.url).port}/mqtt`);
  const pubacks = pubackCounter(c);
  for (let seq = 0; seq < 5; seq++) await c.publishAsync('iotgw/ws/ws-board/telemetry', reading('bws', seq), { qos: 1 });
  assert.equal(pubacks.total, 5);
  assert.equal((await getJson(`${gw.url}/devices/ws-board/readings`)).body.readings.length, 5);
});

test('an MQTT 5 client is told the protocol version is not supported (the broker speaks 3.1 and 3.1.1)', async () => {
  await assert.rejects(connectMqtt(mqttUrl, { protocolVersion: 5, clientId: 'v5' }), /Unacceptable protocol version/);
});
