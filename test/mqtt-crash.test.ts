/**
 * kill -9 of a real gateway process (`gateway/main.ts start`) in the middle of MQTT traffic.
 * - Embedded broker: every message that got a PUBACK is in the buffer when the process dies;
 *   the boards' retransmissions after the restart are stored once.
 * - Bridge: a real mosquitto holds the persistent session's messages while the gateway is down;
 *   after the restart everything published is stored exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { GatewayProcess } from './support/gateway-process.ts';
import { storedReadingIds, countById } from './support/buffer-inspect.ts';
import { TestMosquitto } from './support/mosquitto.ts';
import { connectMqtt, reading } from './support/mqtt.ts';
import { TestRedis } from './support/redis.ts';
import { freePort, tempDir, waitFor } from './support/ports.ts';

// Boards here publish flat out; the per-device rate limit has its own test.
const NO_RATE_LIMIT = { ingest: { rate_limit: { per_device_per_second: 0 } } };
const BOARDS = 10;
const PER_BOARD = 100;
const WINDOW = 10;
const idOf = (board: number, seq: number): string => `dev:board-${board}/crash-boot/${seq}`;

/** A board publishing PER_BOARD readings at QoS 1, WINDOW unacknowledged at a time, through reconnects. */
function board(client: MqttClient, i: number, acked: Set<string>, sent: Map<string, number>): Promise<void> {
  client.on('packetsend', (p) => {
    if (p.cmd !== 'publish') return;
    const id = idOf(i, JSON.parse(String(p.payload)).seq);
    sent.set(id, (sent.get(id) ?? 0) + 1);
  });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < PER_BOARD) {
      const seq = next++;
      await client.publishAsync(`iotgw/crash/board-${i}/telemetry`, reading('crash-boot', seq), { qos: 1 });
      acked.add(idOf(i, seq));
    }
  };
  return Promise.all(Array.from({ length: WINDOW }, lane)).then(() => undefined);
}

for (const mode of ['sqlite', 'redis'] as const) {
  test(`embedded broker, kill -9 mid-stream (${mode} mode): every PUBACKed message survives, retransmissions are stored once`, async () => {
    const dir = tempDir();
    const redis = mode === 'redis' ? await new TestRedis({ appendonly: true }).start() : null;
    const mqttPort = await freePort();
    const env = { IOTGW_MQTT_PORT: String(mqttPort) };
    const sqlitePath = join(dir.path, 'buffer.db');
    const clients: MqttClient[] = [];
    const gateways: GatewayProcess[] = [];
    const gateway = (port?: number) => { const g = new GatewayProcess({ dataDir: dir.path, config: NO_RATE_LIMIT, redisUrl: redis?.url, env, port }); gateways.push(g); return g.start(); };
    try {
      const gw = await gateway();
      const acked = new Set<string>();
      const sent = new Map<string, number>();
      for (let i = 0; i < BOARDS; i++) clients.push(await connectMqtt(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `board-${i}`, clean: false, reconnectPeriod: 100 }));
      const boards = Promise.all(clients.map((c, i) => board(c, i, acked, sent)));
      await waitFor(() => acked.size >= 300, 60_000, '300 PUBACKs');
      await gw.kill();
      const ackedAtKill = new Set(acked);
      if (redis) {
        // Redis dies too, as in a power cut of the process tree; its AOF is the durable copy.
        await redis.kill();
        await redis.start();
      }
      const storedAtKill = countById(await storedReadingIds({ sqlitePath, redisUrl: redis?.url }));
      const lost = [...ackedAtKill].filter((id) => !storedAtKill.has(id));
      assert.deepEqual(lost, [], 'every message that got a PUBACK was durable when the process died');
      assert.ok(ackedAtKill.size < BOARDS * PER_BOARD, 'killed in the middle of the stream');

      const gw2 = await gateway(gw.port);
      await boards;
      assert.equal(acked.size, BOARDS * PER_BOARD, 'every message was acknowledged in the end');
      const resent = [...sent].filter(([, n]) => n > 1).map(([id]) => id);
      assert.ok(resent.length > 0, 'some messages in flight at the kill were sent again after the restart');
      const stored = countById(await storedReadingIds({ sqlitePath, redisUrl: redis?.url }));
      const wrong = [...acked].filter((id) => stored.get(id) !== 1).map((id) => `${id}: ${stored.get(id) ?? 0}`);
      assert.deepEqual(wrong, [], 'every message is stored exactly once');
      const resentAfterStored = resent.filter((id) => storedAtKill.has(id));
      // Messages stored just before the kill whose PUBACK was lost: their resend is a duplicate, not a second copy.
      if (resentAfterStored.length > 0) assert.match(String((await gw2.get('/metrics')).body), /^iotgw_readings_duplicate_total [1-9]/m);
      for (const c of clients) await c.endAsync(true);
      assert.equal(await gw2.stop(), 0);
    } finally {
      for (const c of clients) c.end(true);
      for (const g of gateways) await g.kill();
      await redis?.destroy();
      dir.cleanup();
    }
  });
}

/**
 * The bridge against a real mosquitto, killed mid-stream. With `redisOutage`, Redis is stopped
 * (SIGSTOP) first and SQLite fallback is off, so the bridge holds a message it cannot store when
 * it dies: acknowledging before the durable write would lose every message delivered meanwhile.
 */
async function bridgeKill(redisOutage: boolean): Promise<void> {
  const dir = tempDir();
  const mosquitto = await new TestMosquitto().start();
  const redis = redisOutage ? await new TestRedis({ appendonly: true }).start() : null;
  const config: Record<string, unknown> = { ...NO_RATE_LIMIT, mqtt: { subscribe: { url: mosquitto.url, client_id: 'iotgw-crash-test' } } };
  // A write timeout well above what a loaded machine takes for a Redis append (a spurious one
  // sends intake to 503 until 3 good health probes), and quick probes to come back after the restart.
  if (redis) config.redis = { sqlite_fallback: false, write_timeout_ms: 1000, health_interval_ms: 200 };
  const sqlitePath = join(dir.path, 'buffer.db');
  const stored = async () => countById(await storedReadingIds({ sqlitePath, redisUrl: redis?.url }));
  const connected = (l: Record<string, unknown>) => l.msg === 'MQTT bridge connected';
  let publisher: MqttClient | null = null;
  const gateways: GatewayProcess[] = [];
  const gateway = (port?: number) => { const g = new GatewayProcess({ dataDir: dir.path, config, redisUrl: redis?.url, port }); gateways.push(g); return g.start(); };
  try {
    const gw = await gateway();
    assert.equal((await gw.waitForLog(connected)).session_present, false, 'a new session the first time');
    publisher = await connectMqtt(mosquitto.url, { clientId: 'site-boards' });
    const TOTAL = 2000;
    const published = new Set<string>();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < TOTAL) {
        const n = next++;
        const b = n % BOARDS;
        await publisher!.publishAsync(`iotgw/site/board-${b}/telemetry`, reading('crash-boot', n), { qos: 1 });
        published.add(idOf(b, n));
      }
    };
    const publishing = Promise.all(Array.from({ length: 4 }, lane));
    const metric = async (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(String((await gw.get('/metrics')).body))?.[1] ?? 0);
    await waitFor(async () => (await metric('iotgw_readings_accepted_total{transport="mqtt"}')) >= 300, 60_000, 'the bridge storing readings');
    if (redis) {
      redis.pause();
      await waitFor(async () => (await metric('iotgw_readings_rejected_total{reason="store_unavailable"}')) >= 2, 30_000, 'the bridge retrying a message it cannot store');
    }
    await gw.kill();
    const publishedAtKill = published.size;
    if (redis) {
      await redis.kill();
      await redis.start();
    }
    const storedAtKill = await stored();
    assert.ok(storedAtKill.size < publishedAtKill, `mosquitto holds messages the gateway had not stored (${storedAtKill.size} of ${publishedAtKill})`);
    await publishing; // the rest is published while the gateway is down, into its session's queue

    const gw2 = await gateway(gw.port);
    assert.equal((await gw2.waitForLog(connected)).session_present, true, 'mosquitto kept the session');
    await waitFor(async () => (await stored()).size >= TOTAL, 120_000, 'every published message stored').catch(async (err: Error) => {
      const problems = gw2.logs.filter((l) => Number(l.level) >= 40).slice(-8).map((l) => `${l.msg} ${l.err ?? l.reason ?? ''}`);
      throw new Error(`${err.message}: ${(await stored()).size} of ${TOTAL} stored; gateway warnings: ${JSON.stringify(problems)}; mosquitto: ${mosquitto.log.slice(-500)}`);
    });
    const all = await stored();
    const wrong = [...published].filter((id) => all.get(id) !== 1).map((id) => `${id}: ${all.get(id) ?? 0}`);
    assert.equal(published.size, TOTAL);
    assert.deepEqual(wrong, [], 'every published message is stored exactly once');
    assert.equal(all.size, TOTAL, 'nothing else was stored');
    assert.equal(await gw2.stop(), 0);
  } finally {
    publisher?.end(true);
    for (const g of gateways) await g.kill();
    redis?.resume();
    await redis?.destroy();
    await mosquitto.destroy();
    dir.cleanup();
  }
}

test('bridge, kill -9 while mosquitto holds queued messages for the persistent session: everything published is stored exactly once', () => bridgeKill(false));

test('bridge, kill -9 while it holds a message no store could take (Redis stopped, no fallback): nothing is lost or doubled', () => bridgeKill(true));
