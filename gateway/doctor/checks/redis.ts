import { Redis } from 'ioredis';
import { type CheckContext, type CheckResult, errText, result, within } from '../types.ts';

const redact = (url: string): string => url.replace(/\/\/([^@/]*)@/, '//***@');

/** Reachability (PING) and the persistence settings the durability contract depends on. */
export async function checkRedis(ctx: CheckContext): Promise<CheckResult[]> {
  const url = ctx.config.redis.url;
  if (url === 'none') {
    return [result('redis', 'note', 'redis.url is none: SQLite-only buffering', 'to buffer in Redis, install redis-server and set redis.url: redis://127.0.0.1:6379')];
  }
  const client = new Redis(url, {
    lazyConnect: true, connectTimeout: ctx.timeoutMs, commandTimeout: ctx.timeoutMs, maxRetriesPerRequest: 0,
    enableOfflineQueue: false, retryStrategy: () => null, reconnectOnError: () => false,
  });
  let socketErr: unknown = null; // the real cause (ECONNREFUSED...); connect() only says "Connection is closed."
  client.on('error', (err) => { socketErr ??= err; });
  try {
    try {
      await within(client.connect(), ctx.timeoutMs, 'connect');
      const pong = await client.ping();
      if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    } catch (err) {
      return [
        result('redis', 'fail', `${redact(url)} unreachable: ${errText(socketErr ?? err)}`, 'sudo systemctl status redis-server; journalctl -u redis-server -n 50 (or fix redis.url in /etc/iotgw/config.yaml)'),
        result('redis persistence', 'skip', 'not checked: Redis unreachable'),
      ];
    }
    const reach = result('redis', 'ok', `${redact(url)} answers PING`);
    let settings: Record<string, string>;
    try {
      settings = {};
      for (const key of ['appendonly', 'appendfsync', 'maxmemory', 'maxmemory-policy']) {
        const pair = (await client.config('GET', key)) as string[];
        settings[key] = pair[1] ?? '';
      }
    } catch (err) {
      return [reach, result('redis persistence', 'warn', `cannot read settings (CONFIG GET: ${errText(err)})`, 'check by hand that appendonly is yes and maxmemory-policy is noeviction')];
    }
    return [reach, persistence(settings)];
  } finally {
    client.disconnect();
  }
}

function persistence(s: Record<string, string>): CheckResult {
  const summary = `appendonly ${s.appendonly}, appendfsync ${s.appendfsync}, maxmemory ${s.maxmemory === '0' ? 'unlimited' : s.maxmemory}, policy ${s['maxmemory-policy']}`;
  const fix = 'install the drop-in: sudo deploy/install.sh (or copy deploy/redis/iotgw.conf to /etc/redis/ and deploy/systemd/redis-server.service.d/ to /etc/systemd/system/), then sudo systemctl restart redis-server';
  if (s.appendonly !== 'yes') return result('redis persistence', 'fail', `${summary}: acknowledged readings would not survive a restart`, `${fix}. Before restarting an existing Redis, run: redis-cli CONFIG SET appendonly yes`);
  if (s['maxmemory-policy'] !== 'noeviction') return result('redis persistence', 'fail', `${summary}: Redis may evict buffered readings`, fix);
  if (s.appendfsync === 'no') return result('redis persistence', 'warn', `${summary}: the kernel decides when to flush, a power cut can lose ~30 s of readings`, fix);
  if (s.appendfsync === 'always') return result('redis persistence', 'warn', `${summary}: an fsync per write wears out an SD card`, fix);
  if (s.maxmemory === '0') return result('redis persistence', 'warn', `${summary}: Redis can grow until the Pi runs out of memory`, fix);
  return result('redis persistence', 'ok', summary);
}
