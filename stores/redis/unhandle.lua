-- unhandle.lua: drop a handle's entry if it still names the session.
--   KEYS[1] the handle's key (<prefix>h:<handle>), which holds a session key
--   ARGV[1] the session key
-- Returns 1 if it deleted the entry, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
