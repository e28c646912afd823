-- delete.lua: delete a session (or a tombstone) unless past the limit.
--   KEYS[1] the session hash
--   ARGV[1] the commit limit (Unix µs, server clock; 0: none)
-- Returns OK (also for a missing key), or LATE having deleted nothing.
if late(ARGV[1]) then
  return LATE
end
redis.call('DEL', KEYS[1])
return OK
