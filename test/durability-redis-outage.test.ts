import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GatewayProcess } from './support/gateway-process.ts';

// Senders here go flat out; the per-device rate limit has its own test and would only add 429s.
const NO_RATE_LIMIT = { ingest: { rate_limit: { per_device_per_second: 0 } } };
import { TestRedis } from './support/redis.ts';
import { tempDir, waitFor } from './support/ports.ts';
import { storedReadingIds, countById } from './support/buffer-inspect.ts';

/**
 * Rule 2: Redis stopped during a steady load and started again. No request may fail, every
 * acknowledged reading must be stored exactly once across both stores, and intake must return
 * to Redis afterwards.
 */
test('Redis stopped and restarted under steady load: no request fails, every reading once', async () => {
  const dir = tempDir();
  const redis = await new TestRedis({ appendonly: true }).start();
  const gw = await new GatewayProcess({ dataDir: dir.path, config: NO_RATE_LIMIT, redisUrl: redis.url, env: { IOTGW_LOG_LEVEL: 'info' } }).start();
  try {
    const acked = new Set<string>();
    const failures: string[] = [];
    let seq = 0;
    let running = true;
    const sender = async (device: string) => {
      while (running) {
        const batch = Array.from({ length: 5 }, () => ({ device_id: device, group_id: 'outage', boot_id: 'b', seq: seq++ }));
        const res = await gw.post('/telemetry', batch).catch((e) => ({ status: 0, body: String(e) }));
        if (res.status === 202) for (const r of batch) acked.add(`dev:${r.device_id}/b/${r.seq}`);
        else failures.push(`${res.status} ${JSON.stringify(res.body)}`);
      }
    };
    const senders = Array.from({ length: 4 }, (_, i) => sender(`out-${i}`));
    await waitFor(() => acked.size > 500, 30000, 'load in Redis mode');
    await redis.kill();
    const atStop = acked.size;
    await waitFor(() => acked.size > atStop + 1000, 30000, 'load continuing on SQLite');
    await redis.start();
    await waitFor(async () => /iotgw_store_mode\{store="redis"\} 1/.test(String((await gw.get('/metrics')).body)), 30000, 'intake back on Redis');
    const atRestart = acked.size;
    await waitFor(() => acked.size > atRestart + 500, 30000, 'load after Redis returned');
    running = false;
    await Promise.all(senders);

    assert.deepEqual(failures, [], 'no request failed');
    const metrics = String((await gw.get('/metrics')).body);
    assert.match(metrics, /iotgw_store_mode\{store="redis"\} 1/, 'intake is back on Redis');
    assert.match(metrics, /iotgw_store_failovers_total\{to="sqlite"\} [1-9]/);
    const stored = countById(await storedReadingIds({ sqlitePath: join(dir.path, 'buffer.db'), redisUrl: redis.url }));
    const missing = [...acked].filter((id) => !stored.has(id));
    const twice = [...stored].filter(([, n]) => n > 1);
    assert.equal(missing.length, 0, `missing: ${missing.slice(0, 5)}`);
    assert.equal(twice.length, 0, `duplicated: ${twice.slice(0, 5)}`);
  } finally {
    await gw.stop();
    await redis.destroy();
    dir.cleanup();
  }
});
