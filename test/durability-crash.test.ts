import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GatewayProcess } from './support/gateway-process.ts';

// Senders here go flat out; the per-device rate limit has its own test and would only add 429s.
const NO_RATE_LIMIT = { ingest: { rate_limit: { per_device_per_second: 0 } } };
import { TestRedis } from './support/redis.ts';
import { tempDir } from './support/ports.ts';
import { storedReadingIds, countById } from './support/buffer-inspect.ts';

/**
 * Rule 1: a 202 is sent only once the reading is durable. We post bursts, SIGKILL the gateway
 * while more posts are still in flight, restart it, and every reading that got a 202 must be in
 * the buffer exactly once (unanswered ones may or may not be: the device will retry those).
 */
async function burstThenKill(gw: GatewayProcess, boot: string): Promise<Set<string>> {
  const acked = new Set<string>();
  let seq = 0;
  const sender = async (device: string) => {
    for (;;) {
      const batch = Array.from({ length: 10 }, () => ({ device_id: device, group_id: 'crash', boot_id: boot, seq: seq++, v: Math.random() }));
      try {
        const res = await gw.post('/telemetry', batch);
        if (res.status !== 202) return;
        for (const r of batch) acked.add(`dev:${r.device_id}/${r.boot_id}/${r.seq}`);
      } catch {
        return; // the connection died with the gateway
      }
    }
  };
  const senders = Array.from({ length: 8 }, (_, i) => sender(`crash-${i}`));
  while (acked.size < 3000) await new Promise((r) => setTimeout(r, 5));
  await gw.kill();
  await Promise.all(senders);
  return acked;
}

for (const mode of ['sqlite', 'redis'] as const) {
  test(`kill -9 after a burst of acknowledged posts loses nothing (${mode} mode)`, async () => {
    const dir = tempDir();
    const redis = mode === 'redis' ? await new TestRedis({ appendonly: true }).start() : null;
    try {
      const gw = await new GatewayProcess({ dataDir: dir.path, config: NO_RATE_LIMIT, redisUrl: redis?.url }).start();
      const acked = await burstThenKill(gw, `${mode}-boot`);
      if (redis) {
        // Redis dies too, as in a power cut of the process tree; its AOF is the durable copy.
        await redis.kill();
        await redis.start();
      }
      const gw2 = await new GatewayProcess({ dataDir: dir.path, config: NO_RATE_LIMIT, redisUrl: redis?.url, port: gw.port }).start();
      const stored = countById(await storedReadingIds({ sqlitePath: join(dir.path, 'buffer.db'), redisUrl: redis?.url }));
      const missing = [...acked].filter((id) => !stored.has(id));
      const twice = [...stored].filter(([, n]) => n > 1);
      assert.equal(missing.length, 0, `acknowledged but missing: ${missing.slice(0, 5).join(', ')}`);
      assert.equal(twice.length, 0, `stored more than once: ${twice.slice(0, 5).join(', ')}`);
      // And the restarted gateway serves them.
      const r = await gw2.get('/devices/crash-0/readings?limit=10000');
      const served = new Set(r.body.readings.map((x: any) => `dev:crash-0/${x.boot_id}/${x.seq}`));
      for (const id of acked) if (id.startsWith('dev:crash-0/')) assert.ok(served.has(id), `${id} served after restart`);
      assert.equal((await gw2.stop()), 0);
    } finally {
      await redis?.destroy();
      dir.cleanup();
    }
  });
}
