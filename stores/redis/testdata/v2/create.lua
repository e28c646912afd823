-- create.lua: store a new session unless the key holds a live one.
--   KEYS[1] the session hash
--   ARGV[1] now (ms); ARGV[2] version; ARGV[3] created (ms);
--   ARGV[4] idle_exp (ms); ARGV[5] abs_exp (ms); ARGV[6] principal;
--   ARGV[7] size; ARGV[8] the commit limit (Unix µs, server clock; 0: none);
--   ARGV[9..] attribute name/value pairs
-- Returns OK, or EXISTS if the key holds a live record, LATE past the
-- commit limit, or UNSUPPORTED, having written nothing. An expired record,
-- a tombstone or an unfinished copy of Regenerate under the key is
-- replaced.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'idle_exp', 'abs_exp', 'fmt', 'pending')
if unknown(meta[3]) then
  return UNSUPPORTED
end
if not meta[4] and live(now, meta[1], meta[2]) then
  return EXISTS
end
if late(ARGV[8]) then
  return LATE
end
redis.call('DEL', key)
redis.call('HSET', key, 'version', ARGV[2], 'created', ARGV[3], 'idle_exp', ARGV[4],
  'abs_exp', ARGV[5], 'principal', ARGV[6], 'size', ARGV[7], 'fmt', FORMAT)
hset_attrs(key, 9, #ARGV)
expire(key, now, tonumber(ARGV[4]), tonumber(ARGV[5]))
return OK
