/**
 * The Lua scripts of the Redis store. Each runs atomically in Redis, so a reading is never half
 * written (in the list but not in the id set, or the reverse) and a delete never races an
 * append. Keys are built inside the scripts from the prefix (ARGV[1]): this is a single-instance
 * Redis design, not Redis Cluster.
 *
 * Key layout (prefix `iotgw:` by default):
 *   <p>l:<window>      list of elements in arrival order, each one of:
 *                        a chunk  `#\n<record>\n<record>...`: the readings of one append call for
 *                                 this window, one Reading JSON per line (JSON.stringify never
 *                                 writes a raw newline); a line blanked to '' is a reading gone
 *                                 (a duplicate dropped at append, quarantined, or partly deleted)
 *                        a record `{...}`: one Reading JSON, as earlier versions wrote them
 *                        ''       a tombstone: a quarantined element, blanked so positions stay put
 *   <p>ids:<window>    set of the window's reading ids that a device may send again (dedup of
 *                      retried sends). Ids the gateway minted per receipt (`rcv:`) are unique by
 *                      construction and are not stored: checking them could never find one.
 *   <p>tomb:<window>   zset of the tombstones' absolute indexes (score = member)
 *   <p>x:<window>      zset of chunks holding more than one live reading, member
 *                      "<absolute index>:<live readings - 1>", score = the index
 *   <p>dead:<window>   set of reading ids whose line must be skipped: a write that timed out
 *                      but applied anyway, while the same readings went to SQLite (see in-doubt.ts)
 *   <p>windows         zset of windows holding readings (score = member = window start, epoch ms)
 *   <p>wbytes          hash window -> approximate bytes of the window's elements
 *   <p>wextra          hash window -> the sum of the "live - 1" of its x zset
 *   <p>wtrim           hash window -> elements already trimmed from the list's head
 *   <p>wgen            hash window -> the list's generation (see positions below)
 *   <p>gen             string, the last generation handed out
 *   <p>latest          hash device_id -> Reading JSON of the device's newest reading (`.doc` is the API document),
 *                      rewritten at most once per `redis.latest_every_ms` (latest-throttle.ts)
 *   <p>latest_at       hash device_id -> that reading's received_at (epoch ms), so newer wins; plus a
 *                      field ' encoding' that keeps it a hashtable (see APPEND_LUA)
 *   <p>acked           hash device_id -> the device's acknowledged-record (acked-ledger.ts), written
 *                      by the append script that stores the device's readings
 *   <p>health          string written by the health probe (expires)
 *   <p>w:<window>      legacy stream layout, moved into the list layout at open (redis-migrate.ts)
 *
 * Counts stay exact without reading elements: readings = LLEN - ZCARD(tomb) + wextra. An element
 * counts one unless it is a tombstone, and a chunk counts its extra live readings besides.
 * Anything else found in a list (written by hand, by another program) counts one until a read
 * quarantines it.
 *
 * Why chunks: redis-server spends ~1.2-1.8 µs per stored list element or set member and Lua
 * copies and hashes every argument, so one element and one argument per reading made Redis the
 * bottleneck of batched intake (~15 µs per reading); one chunk per window per call costs about
 * the same for one reading as for two thousand.
 *
 * Positions (`pos`) name readings: "<generation>-<absolute index>-<line>" for a line of a chunk,
 * "<generation>-<absolute index>" for a record element (and, as a page's `next`, for "everything
 * up to and including that element"). Absolute index = wtrim + list index. They must be unique
 * across windows and over time, not only ordered within a window: the uploader names Atlas parts
 * after the position of their first reading (parts.ts), and several windows can feed one hour,
 * so "0" in two windows would make one part replace the other. The generation is handed out when
 * a window's list is created, from Redis's clock in ms and never below the last one (like a
 * stream id), so it also outlives a Redis that lost its data, and a stale position (a replayed
 * delete after the window was emptied and re-created) names nothing. See `comparePos`.
 *
 * Variadic commands (SMISMEMBER, SADD) are chunked so `unpack` stays far below Lua's C stack
 * limit (8000). A window's `windows` entry, generation and trim offset are written when its list
 * is created, not on every append.
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
 * Lua helpers on chunks. `blank(e, set)` blanks the lines whose 0-based numbers are keys of `set`
 * and returns the new chunk and how many live lines it blanked. `setextra` keeps a chunk's x
 * entry, wextra and, when no live line is left, its tombstone in step with its live count.
 */
const CHUNK_LUA = `
local function lines(e)
  local t, pos = {}, 3
  while true do
    local nl = string.find(e, '\\n', pos, true)
    if not nl then t[#t + 1] = string.sub(e, pos); return t end
    t[#t + 1] = string.sub(e, pos, nl - 1)
    pos = nl + 1
  end
end
local function blank(e, set)
  local t, n, left = lines(e), 0, 0
  for k = 1, #t do
    if set[k - 1] and t[k] ~= '' then t[k] = ''; n = n + 1 end
    if t[k] ~= '' then left = left + 1 end
  end
  return '#\\n' .. table.concat(t, '\\n'), n, left
end
-- absolute index -> extra readings, for the chunks between two absolute indexes (x:<window>)
local function extras(p, w, from, to)
  local out = {}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', p .. 'x:' .. w, from, to)) do
    local a, e = string.match(m, '^(%d+):(%d+)$')
    out[tonumber(a)] = tonumber(e)
  end
  return out
end
local function extraof(p, w, abs)
  return extras(p, w, abs, abs)[abs] or 0
end
-- The chunk at abs, counted as 1 + extra readings, lost GONE lines and has LEFT live ones;
-- returns how much its count dropped. Counted from its lines, not from extra, so a chunk found in
-- a list without an x entry (written by hand) never loses a live line to a tombstone.
local function shrink(p, w, abs, extra, gone, left, l, idx, e)
  if gone == 0 then return 0 end
  local x = p .. 'x:' .. w
  if extra > 0 then redis.call('ZREMRANGEBYSCORE', x, abs, abs) end
  if left >= 2 then redis.call('ZADD', x, abs, abs .. ':' .. (left - 1)) end
  local d = math.max(left - 1, 0) - extra
  if d ~= 0 then redis.call('HINCRBY', p .. 'wextra', w, d) end
  if left <= 0 then
    redis.call('ZADD', p .. 'tomb:' .. w, abs, abs)
    e = ''
  end
  redis.call('LSET', l, idx, e)
  return 1 + extra - left
end
`;

/**
 * ARGV: prefix, number of windows, then per window: window, chunk, its line count, the number of
 * (line, id) pairs to check, those pairs (ids a device may resend, lines in ascending order);
 * then the number of acknowledged-records and per record device_id, serialized record (HSET
 * into <p>acked in the same script, so a record is never ahead of or behind its readings);
 * then the rest, per device, the call's newest reading as a latest candidate: device_id,
 * received_at, Reading JSON, and '' or "<window>/<line>" when that reading is one of the checked.
 *
 * Checked ids already in the window's id set are blanked out of the chunk (a retried send), the
 * others join the set; a chunk left without a live line is not pushed. Returns, per window in
 * ARGV order, the line numbers found held, so the caller tells each request how many of its
 * readings were new. The gateway drops repeats within one call before it builds the chunk.
 */
export const APPEND_LUA = `${NEW_GEN}${CHUNK_LUA}
local p = ARGV[1]
-- latest_at holds short values, so Redis would keep it as a listpack up to 512 devices, where
-- every HMGET/HSET field is a linear scan (~1 µs each at 300 devices). One value longer than
-- hash-max-listpack-value (64) makes it a hashtable for good; a device id cannot contain a space.
local HASHTABLE = '${'-'.repeat(65)}'
local C = ${CHUNK}
local out, held = {}, {}
local i = 3
for n = 1, tonumber(ARGV[2]) do
  local w, chunk, nlines, nchk = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  i = i + 4
  local found, set = {}, {}
  if nchk > 0 then
    local idsKey = p .. 'ids:' .. w
    local ls, ids, fresh = {}, {}, {}
    for k = 1, nchk do ls[k] = ARGV[i]; ids[k] = ARGV[i + 1]; i = i + 2 end
    for s = 1, nchk, C do
      local r = redis.call('SMISMEMBER', idsKey, unpack(ids, s, math.min(s + C - 1, nchk)))
      for k = 1, #r do
        local j = s + k - 1
        if r[k] == 1 then
          found[#found + 1] = tonumber(ls[j])
          set[tonumber(ls[j])] = true
          held[w .. '/' .. ls[j]] = true
        else fresh[#fresh + 1] = ids[j] end
      end
    end
    for s = 1, #fresh, C do redis.call('SADD', idsKey, unpack(fresh, s, math.min(s + C - 1, #fresh))) end
  end
  out[n] = found
  local live = nlines - #found
  if live > 0 then
    if #found > 0 then chunk = blank(chunk, set) end
    local l = p .. 'l:' .. w
    local len = redis.call('RPUSH', l, chunk)
    local trimmed = 0
    if len == 1 then
      redis.call('HSET', p .. 'wgen', w, newgen(p))
      redis.call('HDEL', p .. 'wtrim', w)
      redis.call('ZADD', p .. 'windows', w, w)
    else
      trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
    end
    if live > 1 then
      local abs = string.format('%.0f', trimmed + len - 1)
      redis.call('ZADD', p .. 'x:' .. w, abs, abs .. ':' .. (live - 1))
      redis.call('HINCRBY', p .. 'wextra', w, live - 1)
    end
    redis.call('HINCRBY', p .. 'wbytes', w, #chunk)
  end
end
local nacked = tonumber(ARGV[i])
i = i + 1
for s = 0, nacked - 1, C do
  local e = math.min(s + C, nacked) - 1
  redis.call('HSET', p .. 'acked', unpack(ARGV, i + 2 * s, i + 2 * e + 1))
end
i = i + 2 * nacked
local devs, cand = {}, {}
while i + 3 <= #ARGV do
  if ARGV[i + 3] == '' or not held[ARGV[i + 3]] then devs[#devs + 1] = ARGV[i]; cand[#cand + 1] = i end
  i = i + 4
end
for s = 1, #devs, C do
  local e = math.min(s + C - 1, #devs)
  local cur = redis.call('HMGET', p .. 'latest_at', unpack(devs, s, e))
  local at, js = { ' encoding', HASHTABLE }, {}
  for k = s, e do
    local j, c = cand[k], cur[k - s + 1]
    if (not c) or tonumber(c) <= tonumber(ARGV[j + 1]) then
      at[#at + 1] = devs[k]; at[#at + 1] = ARGV[j + 1]
      js[#js + 1] = devs[k]; js[#js + 1] = ARGV[j + 2]
    end
  end
  if #js > 0 then
    redis.call('HSET', p .. 'latest_at', unpack(at))
    redis.call('HSET', p .. 'latest', unpack(js))
  end
end
return out
`;

/**
 * ARGV: prefix, window, after ('' = from the start, else a position), readings wanted. Returns
 * {generation, absolute index of the first element, elements, more (1/0)}: reading the trim
 * offset and the range in one atomic step keeps positions right while a delete runs between
 * pages. Takes whole elements until they hold `wanted` readings (at least one element). After a
 * line position the page starts at that line's chunk again (the caller skips the lines up to it).
 * A position of an older generation comes before every element (its list is gone); a newer one,
 * after all.
 */
export const READ_LUA = `${NEW_GEN}${CHUNK_LUA}
local p, w, after, want = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local l = p .. 'l:' .. w
if redis.call('EXISTS', l) == 0 then return { '', 0, {}, 0 } end
local gen = redis.call('HGET', p .. 'wgen', w)
if not gen then
  -- A list written by hand or restored without its hash field.
  gen = newgen(p)
  redis.call('HSET', p .. 'wgen', w, gen)
end
local trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
local start = 0
local ag, ai, ak = string.match(after, '^(%d+)-(%d+)-?(%d*)$')
if ag then
  if tonumber(ag) == tonumber(gen) then
    start = tonumber(ai) - trimmed
    if ak == '' then start = start + 1 end
    start = math.max(0, start)
  elseif tonumber(ag) > tonumber(gen) then return { gen, 0, {}, 0 } end
end
local first = trimmed + start
local extra = extras(p, w, first, first + want - 1)
local take, got = 0, 0
while got < want and take < want do
  got = got + 1 + (extra[first + take] or 0)
  take = take + 1
end
local items = redis.call('LRANGE', l, start, start + take - 1)
local more = 0
if redis.call('LLEN', l) > start + #items then more = 1 end
return { gen, first, items, more }
`;

/**
 * ARGV: prefix, window, generation, then pairs (absolute index, line): line '' blanks a whole
 * record element (a tombstone), a number blanks that line of a chunk. Entries of another
 * generation, already trimmed or already blank are ignored. Returns how many readings went.
 */
export const QUARANTINE_LUA = `${CHUNK_LUA}
local p, w, gen = ARGV[1], ARGV[2], ARGV[3]
local l, t = p .. 'l:' .. w, p .. 'tomb:' .. w
if redis.call('HGET', p .. 'wgen', w) ~= gen then return 0 end
local trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
local len = redis.call('LLEN', l)
local n = 0
for i = 4, #ARGV - 1, 2 do
  local abs = tonumber(ARGV[i])
  local idx = abs - trimmed
  if idx >= 0 and idx < len then
    if ARGV[i + 1] == '' then
      if redis.call('ZADD', t, abs, abs) == 1 then
        redis.call('LSET', l, idx, '')
        n = n + 1
      end
    else
      local e = redis.call('LINDEX', l, idx)
      if string.sub(e, 1, 2) == '#\\n' then
        local extra = extraof(p, w, abs)
        local e2, gone, left = blank(e, { [tonumber(ARGV[i + 1])] = true })
        n = n + shrink(p, w, abs, extra, gone, left, l, idx, e2)
      end
    end
  end
end
return n
`;

/**
 * ARGV: prefix, window, upTo, limit. Deletes the readings with position <= upTo ('' = all of
 * them, 'none' = none: only "clean up if empty"), whole elements of at most about `limit`
 * readings per call so a big window never blocks Redis (and every intake write behind it) for
 * long; the chunk of a line position loses the lines up to it. Returns {deleted, done}; the
 * caller repeats until done = 1. `deleted` counts readings, not tombstones. A position of another
 * generation deletes nothing: its list is gone already (a replayed delete).
 *
 * When no reading is left the window's keys go (UNLINK: big values are freed in the background).
 * Bytes of a partly deleted window are scaled by the share of readings left (an estimate; summing
 * the exact sizes would mean reading every deleted element inside the script).
 */
export const DELETE_LUA = `${CHUNK_LUA}
local p, w, upTo, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local l, t, x = p .. 'l:' .. w, p .. 'tomb:' .. w, p .. 'x:' .. w
local len = redis.call('LLEN', l)
local trimmed = tonumber(redis.call('HGET', p .. 'wtrim', w) or '0')
local wextra = tonumber(redis.call('HGET', p .. 'wextra', w) or '0')
-- cut: whole elements to delete; line: also blank lines 0..line of the element after them
local cut, line = 0, nil
if upTo == '' then cut = len
elseif upTo ~= 'none' then
  local g, i, k = string.match(upTo, '^(%d+)-(%d+)-?(%d*)$')
  local gen = redis.call('HGET', p .. 'wgen', w)
  if g and gen and tonumber(g) == tonumber(gen) then
    cut = tonumber(i) - trimmed
    if k == '' then cut = cut + 1 elseif cut >= 0 and cut < len then line = tonumber(k) end
    cut = math.min(len, math.max(0, cut))
  end
end
local live = len - redis.call('ZCARD', t) + wextra
-- Whole elements up to about limit readings (at least one), chunks weighing their readings.
local extra = extras(p, w, trimmed, trimmed + math.min(cut, limit) - 1)
local weight, take, gone = 0, 0, 0
while take < cut do
  local e = extra[trimmed + take] or 0
  if take > 0 and weight + 1 + e > limit then break end
  weight = weight + 1 + e
  gone = gone + e
  take = take + 1
end
local done = 1
if take < cut then done = 0; line = nil end
local deleted = 0
if take > 0 then
  deleted = take - redis.call('ZREMRANGEBYSCORE', t, '-inf', trimmed + take - 1) + gone
  redis.call('ZREMRANGEBYSCORE', x, '-inf', trimmed + take - 1)
  -- (never HINCRBY by -0: Lua prints it as "-0", which Redis refuses as an integer)
  if gone > 0 then redis.call('HINCRBY', p .. 'wextra', w, -gone) end
end
if live - deleted > 0 and line ~= nil then
  -- the chunk right after the cut loses its lines up to the position
  local abs, idx = trimmed + take, take
  local e = redis.call('LINDEX', l, idx)
  if e and string.sub(e, 1, 2) == '#\\n' then
    local set = {}
    for k = 0, line do set[k] = true end
    local extra = extraof(p, w, abs)
    local e2, n, left = blank(e, set)
    deleted = deleted + shrink(p, w, abs, extra, n, left, l, idx, e2)
  end
end
if live - deleted <= 0 then
  redis.call('UNLINK', l, t, x, p .. 'ids:' .. w, p .. 'dead:' .. w)
  redis.call('ZREM', p .. 'windows', w)
  for _, h in ipairs({ 'wbytes', 'wtrim', 'wgen', 'wextra' }) do redis.call('HDEL', p .. h, w) end
  return { deleted, 1 }
end
if take > 0 then
  redis.call('LTRIM', l, take, -1)
  redis.call('HSET', p .. 'wtrim', w, string.format('%.0f', trimmed + take))
end
if deleted > 0 then
  local b = tonumber(redis.call('HGET', p .. 'wbytes', w) or '0')
  redis.call('HSET', p .. 'wbytes', w, math.floor(b * (live - deleted) / live))
end
return { deleted, done }
`;

/**
 * ARGV: prefix, window, then reading ids. Marks as dead the ids this window holds (the SQLite
 * copy is the one to keep); returns how many were newly marked. Checked ids Redis never stored
 * are left alone, so a dead set names only real readings; `rcv:` ids are not in the id set (see
 * the layout), so they are marked unchecked: a dead id that names nothing costs a few bytes
 * until the window goes, and cannot hide another reading (those ids are unique per receipt).
 */
export const MARK_DEAD_LUA = `
local p, w = ARGV[1], ARGV[2]
local held = redis.call('SMISMEMBER', p .. 'ids:' .. w, unpack(ARGV, 3))
local ids = {}
for k = 1, #held do
  if held[k] == 1 or string.sub(ARGV[k + 2], 1, 4) == 'rcv:' then ids[#ids + 1] = ARGV[k + 2] end
end
if #ids == 0 then return 0 end
return redis.call('SADD', p .. 'dead:' .. w, unpack(ids))
`;

/** Checks a position's shape before it reaches a script (a typo must not delete nothing silently). */
export function checkPos(pos: string): string {
  if (!/^\d+-\d+(-\d+)?$/.test(pos)) throw new Error(`bad redis position ${pos}`);
  return pos;
}
