-- apply.lua: write a delta to a live session (see lib.lua for ARGV).
--   KEYS[1] the session hash
-- Returns {OK, new version, created, abs_exp, reg}, reg being the score
-- to register the session under (see reregister in lib.lua; 0: none), or
-- {NOT_FOUND}, {REPLACED},
-- {CONFLICT}, {TOO_LARGE}, {LATE} (past the commit limit, ARGV[9]) or
-- {UNSUPPORTED} having written nothing. A missing or expired key is never
-- written to, so a late write cannot bring a session back.
--
-- A delta that sets a principal comes with the index bound (ARGV[8]): the
-- store has already listed the session in the principal's index until that
-- time. A session that may live past it (abs_exp later) is not written:
-- the script returns {REINDEX, created, abs_exp} so the store can list it
-- for its whole life first and try again. A committed principal change is
-- thus always findable through the index.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local code, meta, size = check_delta(key, now)
if code ~= OK then
  return {code}
end
local bound = tonumber(ARGV[8])
if bound > 0 and tonumber(meta[3]) > bound then
  return {REINDEX, tonumber(meta[5]), tonumber(meta[3])}
end
if late(ARGV[9]) then
  return {LATE}
end
local n = tonumber(ARGV[7])
local last_set = DELTA_SET - 1 + 2 * n
if n > 0 then
  hset_attrs(key, DELTA_SET, last_set)
end
for i = last_set + 1, #ARGV do
  redis.call('HDEL', key, 'a:' .. ARGV[i])
end
local version = redis.call('HINCRBY', key, 'version', 1)
redis.call('HSET', key, 'size', size)
if ARGV[5] == '1' then
  redis.call('HSET', key, 'principal', ARGV[6])
end
local idle = tonumber(ARGV[4])
local reg = 0
if idle > 0 then
  redis.call('HSET', key, 'idle_exp', ARGV[4])
  expire(key, now, idle, tonumber(meta[3]))
  if idle > now then
    reg = reregister(key, now, idle, tonumber(meta[3]), meta[11])
  end
end
return {OK, version, tonumber(meta[5]), tonumber(meta[3]), reg}
