import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { NEW_GEN } from './redis-scripts.ts';

/**
 * Earlier versions kept each window in a stream `<p>w:<window>` (field `r` = Reading JSON). A
 * gateway upgraded in place still has those; they are moved into the list layout before the
 * store is used (readers only look at lists), in order, 1000 entries per atomic step so Redis
 * is never blocked long and a crash mid-way resumes without losing or doubling an entry.
 * The id set, dead set, `windows` and `wbytes` of a window are the same keys in both layouts.
 *
 * An entry without a usable `r` field is pushed as the JSON of its fields: it fails to parse on
 * read and goes to quarantine like any unreadable element, instead of vanishing here.
 *
 * Known gap: a delete position saved by the old version (an upload manifest left in phase
 * `commit` by a crash, then the upgrade before any restart) is a stream id, which names nothing
 * in the list: that delete does nothing and the window is uploaded again under new part ids.
 */

/** ARGV: prefix, window, count. Moves up to `count` entries; returns how many (0: the stream is gone). */
export const MIGRATE_LUA = `${NEW_GEN}
local p, w, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local s, l = p .. 'w:' .. w, p .. 'l:' .. w
local entries = redis.call('XRANGE', s, '-', '+', 'COUNT', n)
if #entries == 0 then
  redis.call('UNLINK', s)
  return 0
end
if redis.call('EXISTS', l) == 0 then
  -- Generations above the stream's ids keep new positions (and part ids) clear of the old ones.
  local last = redis.call('XREVRANGE', s, '+', '-', 'COUNT', 1)[1][1]
  redis.call('HSET', p .. 'wgen', w, newgen(p, tonumber(string.match(last, '^(%d+)')) + 1))
  redis.call('HDEL', p .. 'wtrim', w)
end
local vals, sids = {}, {}
for k, e in ipairs(entries) do
  local f, v = e[2], nil
  for j = 1, #f - 1, 2 do
    if f[j] == 'r' then v = f[j + 1] end
  end
  if v == nil or v == '' then v = cjson.encode(f) end
  vals[k] = v
  sids[k] = e[1]
end
redis.call('RPUSH', l, unpack(vals))
redis.call('XDEL', s, unpack(sids))
redis.call('ZADD', p .. 'windows', w, w)
if redis.call('XLEN', s) == 0 then redis.call('UNLINK', s) end
return #entries
`;

export type MigrateClient = Redis & { iotgwMigrate(...args: string[]): Promise<number> };

const STEP = 1000;

/** Moves every legacy stream window into the list layout; returns how many readings moved. */
export async function migrateLegacyStreams(
  redis: MigrateClient,
  prefix: string,
  op: <T>(p: Promise<T>, what: string) => Promise<T>,
  log?: Logger,
): Promise<number> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}w:*`;
  const windows: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await op(redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'stream'), 'redis legacy scan');
    cursor = next;
    for (const k of keys) windows.push(k.slice(prefix.length + 2));
  } while (cursor !== '0');
  let moved = 0;
  for (const w of windows.sort((a, b) => Number(a) - Number(b))) {
    for (;;) {
      const n = Number(await op(redis.iotgwMigrate(prefix, w, String(STEP)), 'redis legacy migrate'));
      moved += n;
      if (n === 0) break;
    }
  }
  if (windows.length > 0) log?.info({ readings: moved, windows: windows.length }, 'moved buffered readings from the old Redis stream layout to lists');
  return moved;
}
