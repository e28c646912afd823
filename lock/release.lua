-- release.lua: ends the lease if the token holds it, keeping the fence
-- counter, and tells waiters.
--   KEYS[1]  the lock hash (see acquire.lua)
--   ARGV[1]  token
--   ARGV[2]  fence retention in ms: the key's TTL once released
--   ARGV[3]  the release channel
--   ARGV[4]  the message: the lock's key as the caller named it
-- Returns 1 if the token held a live lease, 0 otherwise. A token whose
-- lease has expired is cleared all the same (and waiters told), so that
-- the next attempt need not compare times.
local key = KEYS[1]
local t = redis.call('TIME')
local now_ms = math.floor((t[1] * 1000000 + t[2]) / 1000)
local f = redis.call('HMGET', key, 'tok', 'exp', 'wait')
if f[1] ~= ARGV[1] then
  return 0
end
redis.call('HDEL', key, 'tok', 'exp', 'lf', 'wait')
redis.call('PEXPIRE', key, ARGV[2])
if f[3] then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
if tonumber(f[2] or 0) <= now_ms then
  return 0
end
return 1
