-- extend.lua: moves a live lease's expiry to now + ttl, if the token holds it.
--   KEYS[1]  the lock hash (see acquire.lua)
--   ARGV[1]  token
--   ARGV[2]  ttl in ms
--   ARGV[3]  the key's own TTL in ms: max(ttl, fence retention)
-- Returns the lease's fence (lf), -1 if the token holds a live lease here
-- whose fence was not recorded here (a master that took the lock after the
-- quorum was decided), or 0 if the token does not hold a live lease.
local key = KEYS[1]
local t = redis.call('TIME')
local now_ms = math.floor((t[1] * 1000000 + t[2]) / 1000)
local f = redis.call('HMGET', key, 'tok', 'exp', 'lf')
if f[1] ~= ARGV[1] or tonumber(f[2] or 0) <= now_ms then
  return 0
end
redis.call('HSET', key, 'exp', string.format('%.0f', now_ms + tonumber(ARGV[2])))
redis.call('PEXPIRE', key, ARGV[3])
return tonumber(f[3] or -1)
