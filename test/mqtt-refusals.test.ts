/**
 * Bad input on the embedded broker, with device keys on: a malformed payload, a wrong topic, an
 * oversized message, a wrong password, a key used for another device. Each gets a clear refusal
 * (MQTT 3.1.1: no PUBACK and the connection closed; a refused login: CONNACK "bad user name or
 * password"), is counted by reason, and nothing else is lost: a board publishing beside them
 * all the while gets every message acknowledged and stored.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startGateway } from './support/in-process.ts';
import { storedReadingIds, countById } from './support/buffer-inspect.ts';
import { closedByBroker, connectMqtt, metricValue, pubackCounter, reading } from './support/mqtt.ts';
import { TestRedis } from './support/redis.ts';
import { waitFor } from './support/ports.ts';

const MAX_PACKET = 4096;
let gw: Awaited<ReturnType<typeof startGateway>>;
let mqttUrl: string;
const open: MqttClient[] = [];
const client = async (username: string, password: string, opts: Parameters<typeof connectMqtt>[1] = {}): Promise<MqttClient> => {
  const c = await connectMqtt(mqttUrl, { clientId: `c-${username}-${open.length}`, username, password, ...opts });
  open.push(c);
  return c;
};
const rejected = (reason: string) => metricValue(gw.url, `iotgw_readings_rejected_total{reason="${reason}"}`);
const storedIds = async () => countById(await storedReadingIds({ sqlitePath: join(gw.dataDir, 'buffer.db') }));

before(async () => {
  gw = await startGateway({
    'mqtt.listen_port': 0,
    'mqtt.max_packet_bytes': MAX_PACKET,
    'ingest.auth.mode': 'keys',
    'ingest.auth.device_keys': { steady: 'key-steady', 'dev-a': 'key-a', 'dev-b': 'key-b' },
    'ingest.rate_limit.per_device_per_second': 0,
  });
  mqttUrl = `mqtt://127.0.0.1:${gw.gw.mqttPort}`;
});
after(async () => {
  for (const c of open) await c.endAsync(true);
  await gw?.stop();
});

/**
 * Publishes good messages, then `message`, in one burst. The broker must refuse `message` by
 * closing the connection; the PUBACKs counted once it is closed are all the client will ever get.
 */
async function refusedAfterGoodOnes(c: MqttClient, topic: string, message: string | Buffer, goodSeqs: number[]): Promise<number> {
  const pubacks = pubackCounter(c);
  const closed = closedByBroker(c);
  for (const seq of goodSeqs) c.publish('iotgw/g/dev-a/telemetry', reading('boot-a', seq), { qos: 1 });
  c.publish(topic, message, { qos: 1 });
  await closed;
  return pubacks.total;
}

test('bad input is refused, counted by reason, and nothing else is lost', async () => {
  // A well-behaved board publishes throughout.
  const steady = await client('steady', 'key-steady');
  let running = true;
  let steadySeq = 0;
  const steadyAcked: number[] = [];
  const steadyLoop = (async () => {
    while (running) {
      const seq = steadySeq++;
      await steady.publishAsync('iotgw/g/steady/telemetry', reading('boot-s', seq), { qos: 1 });
      steadyAcked.push(seq);
    }
  })();

  // Malformed payload: the 20 good messages before it in the same burst are acknowledged first.
  let seq = 0;
  const next = (n: number) => Array.from({ length: n }, () => seq++);
  const before1 = next(20);
  assert.equal(await refusedAfterGoodOnes(await client('dev-a', 'key-a'), 'iotgw/g/dev-a/telemetry', '{"temp_c": 21.', before1), 20, 'only the good messages got a PUBACK');
  assert.equal(await rejected('invalid_json'), 1);

  // A reading that fails validation (a metric named $where).
  assert.equal(await refusedAfterGoodOnes(await client('dev-a', 'key-a'), 'iotgw/g/dev-a/telemetry', JSON.stringify({ $where: 1, boot_id: 'boot-a', seq: 9000 }), next(5)), 5);
  assert.equal(await rejected('invalid_field_name'), 1);

  // Wrong topic under the intake namespace, and a payload naming another device than its topic.
  assert.equal(await refusedAfterGoodOnes(await client('dev-a', 'key-a'), 'iotgw/g/dev-a/status', reading('boot-a', 9001), next(5)), 5);
  assert.equal(await rejected('invalid_topic'), 1);
  assert.equal(await refusedAfterGoodOnes(await client('dev-a', 'key-a'), 'iotgw/g/dev-a/telemetry', reading('boot-a', 9002, { device_id: 'dev-b' }), next(5)), 5);
  assert.equal(await rejected('topic_mismatch'), 1);

  // Oversized: refused as its header arrives, before the broker buffers it.
  const big = Buffer.alloc(MAX_PACKET * 4, 0x20);
  assert.equal(await refusedAfterGoodOnes(await client('dev-a', 'key-a'), 'iotgw/g/dev-a/telemetry', big, next(5)), 5);
  assert.equal(await rejected('body_too_large'), 1);

  // dev-a's key speaking for dev-b (in dev-b's own topic) is refused at the reading.
  assert.equal(await refusedAfterGoodOnes(await client('dev-a', 'key-a'), 'iotgw/g/dev-b/telemetry', reading('boot-b', 1), next(5)), 5);
  assert.equal(await rejected('unauthorized'), 1);

  // Wrong password, no password, a device key for another username: CONNACK 4, no session.
  await assert.rejects(client('dev-a', 'wrong'), /Bad username or password/);
  await assert.rejects(connectMqtt(mqttUrl, { clientId: 'anon' }), /Bad username or password/);
  await assert.rejects(client('dev-b', 'key-a'), /Bad username or password/);
  assert.equal(await rejected('unauthorized'), 4);

  running = false;
  assert.ok(steady.connected, 'the steady board was never disconnected');
  const stuck = new Promise((_, reject) => setTimeout(() => reject(new Error('the steady board\'s last message got no PUBACK')), 10_000).unref());
  await Promise.race([steadyLoop, stuck]);
  assert.equal(steadyAcked.length, steadySeq, 'every message of the steady board was acknowledged');
  assert.ok(steadyAcked.length > 0);
  const stored = await storedIds();
  const lostSteady = steadyAcked.filter((s) => stored.get(`dev:steady/boot-s/${s}`) !== 1);
  assert.deepEqual(lostSteady, [], 'every acknowledged message of the steady board is stored once');
  const lostA = Array.from({ length: seq }, (_, s) => s).filter((s) => stored.get(`dev:dev-a/boot-a/${s}`) !== 1);
  assert.deepEqual(lostA, [], 'every good message sent before a refused one is stored once');
  for (const s of [9000, 9001, 9002]) assert.ok(!stored.has(`dev:dev-a/boot-a/${s}`), `refused message ${s} is not stored`);
  assert.ok(!stored.has('dev:dev-b/boot-b/1'), 'the forged reading is not stored');
  assert.equal(await metricValue(gw.url, 'iotgw_mqtt_clients'), open.filter((c) => c.connected).length, 'refused clients are gone, the others still connected');
});

test('a refused message is refused again when the board resends it after reconnecting, and counted each time', async () => {
  const c = await client('dev-a', 'key-a', { reconnectPeriod: 100 });
  const before = await rejected('invalid_json');
  c.publish('iotgw/g/dev-a/telemetry', 'not json', { qos: 1 });
  await waitFor(async () => (await rejected('invalid_json')) >= before + 2, 15_000, 'the resend after reconnecting, refused again');
  c.end(true);
});

test('with no store able to write, nothing is acknowledged; the resend once Redis is back is stored once', async () => {
  const redis = await new TestRedis().start();
  const g = await startGateway({ 'mqtt.listen_port': 0, 'redis.url': redis.url, 'redis.sqlite_fallback': false, 'redis.write_timeout_ms': 200, 'redis.health_interval_ms': 100 });
  try {
    const c = await connectMqtt(`mqtt://127.0.0.1:${g.gw.mqttPort}`, { clientId: 'patient', clean: false, reconnectPeriod: 200 });
    const pubacks = pubackCounter(c);
    await c.publishAsync('iotgw/g/patient/telemetry', reading('bp', 0), { qos: 1 });
    redis.pause();
    const acked = c.publishAsync('iotgw/g/patient/telemetry', reading('bp', 1), { qos: 1 });
    await waitFor(async () => (await metricValue(g.url, 'iotgw_readings_rejected_total{reason="store_unavailable"}')) >= 1, 15_000, 'the refusal while Redis is stopped');
    assert.equal(pubacks.total, 1, 'no PUBACK while no store could write');
    redis.resume();
    await acked;
    assert.equal(pubacks.total, 2, 'the resend is acknowledged once Redis is back');
    const stored = countById(await storedReadingIds({ sqlitePath: join(g.dataDir, 'buffer.db'), redisUrl: redis.url }));
    assert.equal(stored.get('dev:patient/bp/1'), 1);
    await c.endAsync(true);
  } finally {
    redis.resume();
    await g.stop();
    await redis.destroy();
  }
});
