import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, postJson } from './support/in-process.ts';

let gw: Awaited<ReturnType<typeof startGateway>>;

before(async () => {
  gw = await startGateway({
    'ingest.auth.mode': 'keys',
    'ingest.auth.device_keys': { 'dev-a': 'key-a', 'dev-b': 'key-b' },
    'ingest.auth.shared_key': 'site-key',
    'ingest.rate_limit.per_device_per_second': 1,
    'ingest.rate_limit.burst': 3,
  });
});
after(async () => { await gw?.stop(); });

const post = (body: unknown, key?: string) => postJson(`${gw.url}/telemetry`, body, key ? { authorization: `Bearer ${key}` } : {});

test('with auth on, a missing or wrong key is 401 and a device key only speaks for its device', async () => {
  assert.equal((await post({ device_id: 'dev-a', group_id: 'g' })).status, 401);
  assert.equal((await post({ device_id: 'dev-a', group_id: 'g' }, 'nope')).status, 401);
  const forged = await post({ device_id: 'dev-b', group_id: 'g' }, 'key-a');
  assert.equal(forged.status, 401);
  assert.match(forged.body.error.message, /dev-b/);
  assert.equal((await post({ device_id: 'dev-a', group_id: 'g' }, 'key-a')).status, 202);
  assert.equal((await postJson(`${gw.url}/telemetry`, { device_id: 'dev-b', group_id: 'g' }, { 'x-device-key': 'key-b' })).status, 202);
  assert.equal((await post({ device_id: 'anyone', group_id: 'g' }, 'site-key')).status, 202);
});

test('a device past its rate gets 429 with Retry-After; other devices are unaffected', async () => {
  const burst = Array.from({ length: 3 }, (_, i) => ({ device_id: 'chatty', group_id: 'g', i }));
  assert.equal((await post(burst, 'site-key')).status, 202);
  const limited = await post({ device_id: 'chatty', group_id: 'g' }, 'site-key');
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'rate_limited');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal((await post({ device_id: 'quiet', group_id: 'g' }, 'site-key')).status, 202);
});
