/**
 * The Lua scripts of the Redis store. Each runs atomically in Redis, so a reading is never half
 * written (in the stream but not in the id set, or the reverse) and a delete never races an
 * append. Keys are built inside the scripts from the prefix (ARGV[1]): this is a single-instance
 * Redis design, not Redis Cluster.
 *
 * Key layout (prefix `iotgw:` by default):
 *   <p>w:<window>     stream, one entry per reading, field `r` = the Reading JSON; the entry id is the `pos`
 *   <p>ids:<window>   set of reading ids stored in that window (dedup of retried sends)
 *   <p>windows        zset of windows holding readings (score = member = window start, epoch ms)
 *   <p>wbytes         hash window -> approximate bytes of the window's Reading JSON
 *   <p>latest         hash device_id -> Reading JSON of the device's newest reading (`.doc` is the API document)
 *   <p>latest_at      hash device_id -> that reading's received_at (epoch ms), so newer wins
 *   <p>health         string written by the health probe (expires)
 *   <p>dead:<window>  set of reading ids whose stream entry must be skipped: a write that timed out
 *                     but applied anyway, while the same readings went to SQLite (see in-doubt.ts)
 */

/**
 * ARGV: prefix, then per reading: window, id, device_id, received_at, reading JSON. Returns one
 * flag per reading, 1 new or 0 already held, so several callers can share one call. Window bytes
 * and each device's latest reading are written once per call, not once per reading.
 */
export const APPEND_LUA = `
local p = ARGV[1]
local flags = {}
local bytes = {}
local newest = {}
for i = 2, #ARGV, 5 do
  local w, id, dev, at, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if redis.call('SADD', p .. 'ids:' .. w, id) == 1 then
    redis.call('XADD', p .. 'w:' .. w, '*', 'r', json)
    if bytes[w] == nil then
      bytes[w] = 0
      redis.call('ZADD', p .. 'windows', w, w)
    end
    bytes[w] = bytes[w] + #json
    local atn = tonumber(at)
    local cur = newest[dev]
    if cur == nil or cur[1] <= atn then newest[dev] = { atn, at, json } end
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
for w, b in pairs(bytes) do redis.call('HINCRBY', p .. 'wbytes', w, b) end
for dev, v in pairs(newest) do
  local cur = redis.call('HGET', p .. 'latest_at', dev)
  if (not cur) or tonumber(cur) <= v[1] then
    redis.call('HSET', p .. 'latest_at', dev, v[2])
    redis.call('HSET', p .. 'latest', dev, v[3])
  end
end
return flags
`;
/**
 * ARGV: prefix, window, minid, limit. Deletes the window's entries with id < minid (minid '' =
 * all of them), at most about `limit` per call so a big window never blocks Redis (and every
 * intake write behind it) for long: whole stream nodes go first (XTRIM MINID ~ LIMIT), the last
 * partial node exactly. Returns {deleted, done}; the caller repeats until done = 1. When the
 * stream is left empty it is removed with its id set, zset entry and byte count (UNLINK: big
 * values are freed in the background). minid '0-1' deletes nothing: "clean up if empty".
 *
 * Bytes of a partly deleted window are scaled by the share of entries left (an estimate; summing
 * the exact sizes would mean reading every deleted entry inside the script).
 */
export const DELETE_LUA = `
local p, w, minid, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local s = p .. 'w:' .. w
local len = redis.call('XLEN', s)
local deleted = len
local done = 1
if minid ~= '' and len > 0 then
  deleted = redis.call('XTRIM', s, 'MINID', '~', minid, 'LIMIT', limit)
  if deleted > 0 then done = 0 else deleted = redis.call('XTRIM', s, 'MINID', minid) end
end
local remaining = len - deleted
if remaining <= 0 then
  redis.call('UNLINK', s, p .. 'ids:' .. w, p .. 'dead:' .. w)
  redis.call('ZREM', p .. 'windows', w)
  redis.call('HDEL', p .. 'wbytes', w)
  done = 1
elseif deleted > 0 then
  local b = tonumber(redis.call('HGET', p .. 'wbytes', w) or '0')
  redis.call('HSET', p .. 'wbytes', w, math.floor(b * remaining / len))
end
return {deleted, done}
`;

/** The stream id just after `pos` ("ms-seq"), for XTRIM MINID (which keeps ids >= minid). */
export function nextStreamId(pos: string): string {
  const m = /^(\d+)-(\d+)$/.exec(pos);
  if (!m) throw new Error(`bad redis position ${pos}`);
  const seq = BigInt(m[2]);
  return seq >= 18446744073709551615n ? `${BigInt(m[1]) + 1n}-0` : `${m[1]}-${seq + 1n}`;
}

/**
 * ARGV: prefix, window, then reading ids. Marks as dead the ids this window's stream holds (the
 * SQLite copy is the one to keep); returns how many were marked. Ids Redis never stored are left
 * alone, so a dead set only ever names real entries.
 */
export const MARK_DEAD_LUA = `
local p, w = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV do
  if redis.call('SISMEMBER', p .. 'ids:' .. w, ARGV[i]) == 1 then
    n = n + redis.call('SADD', p .. 'dead:' .. w, ARGV[i])
  end
end
return n
`;
