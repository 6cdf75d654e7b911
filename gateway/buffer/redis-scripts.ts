/**
 * The Lua scripts of the Redis store. Each runs atomically in Redis, so a reading is never half
 * written (in the list but not in the id set, or the reverse) and a delete never races an
 * append. Keys are built inside the scripts from the prefix (ARGV[1]): this is a single-instance
 * Redis design, not Redis Cluster.
 *
 * Key layout (prefix `iotgw:` by default):
 *   <p>l:<window>      list of Reading JSON strings in arrival order; '' is a tombstone (a
 *                      quarantined element: blanked, not removed, so positions never shift)
 *   <p>ids:<window>    set of reading ids stored in that window (dedup of retried sends)
 *   <p>tomb:<window>   zset of the tombstones' absolute indexes (score = member), so counts stay
 *                      exact without scanning: count = LLEN - ZCARD
 *   <p>dead:<window>   set of reading ids whose element must be skipped: a write that timed out
 *                      but applied anyway, while the same readings went to SQLite (see in-doubt.ts)
 *   <p>windows         zset of windows holding readings (score = member = window start, epoch ms)
 *   <p>wbytes          hash window -> approximate bytes of the window's Reading JSON
 *   <p>wtrim           hash window -> elements already trimmed from the list's head
 *   <p>wgen            hash window -> the list's generation (see positions below)
 *   <p>gen             string, the last generation handed out
 *   <p>latest          hash device_id -> Reading JSON of the device's newest reading (`.doc` is the API document)
 *   <p>latest_at       hash device_id -> that reading's received_at (epoch ms), so newer wins; plus a
 *                      field ' encoding' that keeps it a hashtable (see APPEND_LUA)
 *   <p>health          string written by the health probe (expires)
 *   <p>w:<window>      legacy stream layout, moved into the list layout at open (redis-migrate.ts)
 *
 * Positions (`pos`) are "<generation>-<absolute index>", absolute index = wtrim + list index.
 * They must be unique across windows and over time, not only ordered within a window: the
 * uploader names Atlas parts after the position of their first reading (parts.ts), and several
 * windows can feed one hour, so "0" in two windows would make one part replace the other. The
 * generation is handed out when a window's list is created, from Redis's clock in ms and never
 * below the last one (like a stream id), so it also outlives a Redis that lost its data, and a
 * stale position (a replayed delete after the window was emptied and re-created) names nothing.
 * The "ms-seq" shape is the one stream ids had, so `comparePos` is unchanged.
 *
 * Per-reading redis.call()s were much of the cost of the stream layout; these scripts issue
 * variadic commands per window and per call instead (SMISMEMBER, SADD, RPUSH, HMGET, HSET),
 * chunked so `unpack` stays far below Lua's C stack limit (8000). A window's `windows` entry,
 * generation and trim offset are written when its list is created, not on every append.
 */

const CHUNK = 1000;

/** Lua: hands out a generation > every earlier one and >= floor (ms). */
export const NEW_GEN = `
local function newgen(p, floor)
  local t = redis.call('TIME')
  local g = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local last = tonumber(redis.call('GET', p .. 'gen') or '0')
  if g <= last then g = last + 1 end
  if floor and g < floor then g = floor end
  local s = string.format('%.0f', g)
  redis.call('SET', p .. 'gen', s)
  return s
end
`;

/**
 * ARGV: prefix, then per reading: window, id, device_id, received_at, reading JSON. Returns one
 * flag per reading in ARGV order, 1 new or 0 already held (in the window's id set, or earlier in
 * this same call), so several callers can share one call.
 */
export const APPEND_LUA = `${NEW_GEN}
local p = ARGV[1]
-- latest_at holds short values, so Redis would keep it as a listpack up to 512 devices, where
-- every HMGET/HSET field is a linear scan (~1 µs each at 300 devices). One value longer than
-- hash-max-listpack-value (64) makes it a hashtable for good; a device id cannot contain a space.
local HASHTABLE = '${'-'.repeat(65)}'
local C = ${CHUNK}
local flags, order, byw = {}, {}, {}
for i = 2, #ARGV, 5 do
  local g = byw[ARGV[i]]
  if not g then g = {}; byw[ARGV[i]] = g; order[#order + 1] = ARGV[i] end
  g[#g + 1] = i
end
local newest, devs = {}, {}
for _, w in ipairs(order) do
  local g = byw[w]
  local idsKey = p .. 'ids:' .. w
  local ids, held = {}, {}
  for k = 1, #g do ids[k] = ARGV[g[k] + 1] end
  for s = 1, #ids, C do
    local r = redis.call('SMISMEMBER', idsKey, unpack(ids, s, math.min(s + C - 1, #ids)))
    for k = 1, #r do held[s + k - 1] = r[k] end
  end
  local seen, fresh, vals, bytes = {}, {}, {}, 0
  for k = 1, #g do
    local i, id = g[k], ids[k]
    local f = 0
    if held[k] == 0 and not seen[id] then
      seen[id] = true
      f = 1
      fresh[#fresh + 1] = id
      vals[#vals + 1] = ARGV[i + 4]
      bytes = bytes + #ARGV[i + 4]
      -- newest[dev] = ARGV index of the device's newest fresh reading (later ones win ties)
      local dev = ARGV[i + 2]
      local cur = newest[dev]
      if cur == nil then devs[#devs + 1] = dev end
      if cur == nil or tonumber(ARGV[cur + 3]) <= tonumber(ARGV[i + 3]) then newest[dev] = i end
    end
    flags[(i - 2) / 5 + 1] = f
  end
  if #fresh > 0 then
    local l = p .. 'l:' .. w
    for s = 1, #fresh, C do
      local e = math.min(s + C - 1, #fresh)
      redis.call('SADD', idsKey, unpack(fresh, s, e))
      -- A list holding exactly the first chunk is new: it gets a generation and joins the windows.
      if redis.call('RPUSH', l, unpack(vals, s, e)) == e and s == 1 then
        redis.call('HSET', p .. 'wgen', w, newgen(p))
        redis.call('HDEL', p .. 'wtrim', w)
        redis.call('ZADD', p .. 'windows', w, w)
      end
    end
    redis.call('HINCRBY', p .. 'wbytes', w, bytes)
  end
end
for s = 1, #devs, C do
  local e = math.min(s + C - 1, #devs)
  local cur = redis.call('HMGET', p .. 'latest_at', unpack(devs, s, e))
  local at, js = { ' encoding', HASHTABLE }, {}
  for k = s, e do
    local i, c = newest[devs[k]], cur[k - s + 1]
    if (not c) or tonumber(c) <= tonumber(ARGV[i + 3]) then
      at[#at + 1] = devs[k]; at[#at + 1] = ARGV[i + 3]
      js[#js + 1] = devs[k]; js[#js + 1] = ARGV[i + 4]
    end
  end
  if #js > 0 then
    redis.call('HSET', p .. 'latest_at', unpack(at))
    redis.call('HSET', p .. 'latest', unpack(js))
  end
end
return flags
`;

/**
 * ARGV: prefix, window, after ('' = from the start, else a position), count. Returns
 * {generation, absolute index of the first element, elements}: reading the trim offset and the
 * range in one atomic step keeps positions right while a delete runs between pages. A position
 * of an older generation comes before every element (its list is gone); a newer one, after all.
 */
export const READ_LUA = `${NEW_GEN}
local p, w, after, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local l = p .. 'l:' .. w
if redis.call('EXISTS', l) == 0 then return { '', 0, {} } end
local gen = redis.call('HGET', p .. 'wgen', w)
if not gen then
  -- A list written by hand or restored without its hash field.
  gen = newgen(p)
  redis.call('HSET', p .. 'wgen', w, gen)
end
local trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
local start = 0
local ag, ai = string.match(after, '^(%d+)-(%d+)$')
if ag then
  if tonumber(ag) == tonumber(gen) then start = math.max(0, tonumber(ai) + 1 - trimmed)
  elseif tonumber(ag) > tonumber(gen) then return { gen, 0, {} } end
end
return { gen, trimmed + start, redis.call('LRANGE', l, start, start + n - 1) }
`;

/**
 * ARGV: prefix, window, generation, then absolute indexes. Blanks those elements (tombstones)
 * and records them, so counts stay exact and later positions do not move. Indexes of another
 * generation or already trimmed are ignored. Returns how many were blanked.
 */
export const QUARANTINE_LUA = `
local p, w, gen = ARGV[1], ARGV[2], ARGV[3]
local l, t = p .. 'l:' .. w, p .. 'tomb:' .. w
if redis.call('HGET', p .. 'wgen', w) ~= gen then return 0 end
local trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
local len = redis.call('LLEN', l)
local n = 0
for i = 4, #ARGV do
  local idx = tonumber(ARGV[i]) - trimmed
  if idx >= 0 and idx < len and redis.call('ZADD', t, ARGV[i], ARGV[i]) == 1 then
    redis.call('LSET', l, idx, '')
    n = n + 1
  end
end
return n
`;

/**
 * ARGV: prefix, window, upTo, limit. Deletes the elements with position <= upTo ('' = all of
 * them, 'none' = none: only "clean up if empty"), at most `limit` per call so a big window never
 * blocks Redis (and every intake write behind it) for long. Returns {deleted, done}; the caller
 * repeats until done = 1. `deleted` counts readings, not tombstones. A position of another
 * generation deletes nothing: its list is gone already (a replayed delete).
 *
 * When no reading is left the window's keys go (UNLINK: big values are freed in the background).
 * Bytes of a partly deleted window are scaled by the share of readings left (an estimate; summing
 * the exact sizes would mean reading every deleted element inside the script).
 */
export const DELETE_LUA = `
local p, w, upTo, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local l, t = p .. 'l:' .. w, p .. 'tomb:' .. w
local len = redis.call('LLEN', l)
local trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
local cut = 0
if upTo == '' then cut = len
else
  local g, i = string.match(upTo, '^(%d+)-(%d+)$')
  local gen = redis.call('HGET', p .. 'wgen', w)
  if g and gen and tonumber(g) == tonumber(gen) then cut = math.min(len, math.max(0, tonumber(i) + 1 - trimmed)) end
end
local done = 1
if cut > limit then cut = limit; done = 0 end
local live = len - redis.call('ZCARD', t)
local deleted = 0
if cut > 0 then deleted = cut - redis.call('ZREMRANGEBYSCORE', t, '-inf', trimmed + cut - 1) end
if live - deleted <= 0 then
  redis.call('UNLINK', l, t, p .. 'ids:' .. w, p .. 'dead:' .. w)
  redis.call('ZREM', p .. 'windows', w)
  redis.call('HDEL', p .. 'wbytes', w)
  redis.call('HDEL', p .. 'wtrim', w)
  redis.call('HDEL', p .. 'wgen', w)
  return { deleted, 1 }
end
if cut > 0 then
  redis.call('LTRIM', l, cut, -1)
  redis.call('HSET', p .. 'wtrim', w, string.format('%.0f', trimmed + cut))
  if deleted > 0 then
    local b = tonumber(redis.call('HGET', p .. 'wbytes', w) or '0')
    redis.call('HSET', p .. 'wbytes', w, math.floor(b * (live - deleted) / live))
  end
end
return { deleted, done }
`;

/**
 * ARGV: prefix, window, then reading ids. Marks as dead the ids this window holds (the SQLite
 * copy is the one to keep); returns how many were newly marked. Ids Redis never stored are left
 * alone, so a dead set only ever names real elements.
 */
export const MARK_DEAD_LUA = `
local p, w = ARGV[1], ARGV[2]
local held = redis.call('SMISMEMBER', p .. 'ids:' .. w, unpack(ARGV, 3))
local ids = {}
for k = 1, #held do
  if held[k] == 1 then ids[#ids + 1] = ARGV[k + 2] end
end
if #ids == 0 then return 0 end
return redis.call('SADD', p .. 'dead:' .. w, unpack(ids))
`;

/** Checks a position's shape before it reaches a script (a typo must not delete nothing silently). */
export function checkPos(pos: string): string {
  if (!/^\d+-\d+$/.test(pos)) throw new Error(`bad redis position ${pos}`);
  return pos;
}
