-- delete.lua: delete a session (or a lapsed tombstone) unless past the
-- limit.
--   KEYS[1] the session hash
--   ARGV[1] the commit limit (Unix µs, server clock; 0: none)
--   ARGV[2] the store clock's now (Unix ms)
-- Returns OK (also for a missing key), REPLACED keeping a live tombstone,
-- or LATE having deleted nothing.
local meta = redis.call('HMGET', KEYS[1], 'idle_exp', 'abs_exp', 'tomb')
if not live(tonumber(ARGV[2]), meta[1], meta[2]) and gone(tonumber(ARGV[2]), meta[3]) == REPLACED then
  return REPLACED
end
if late(ARGV[1]) then
  return LATE
end
redis.call('DEL', KEYS[1])
return OK
