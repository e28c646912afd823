-- acquire.lua: one attempt to take the lock, and its fencing number.
--   KEYS[1]  the lock hash: tok (holder's token), exp (expiry, Unix ms by
--            this server's TIME), fence (last fencing number issued here),
--            lf (the holder's lease fence, once known), wait (set while a
--            waiter wants a release notification)
--   ARGV[1]  token
--   ARGV[2]  ttl in ms
--   ARGV[3]  the key's own TTL in ms: max(ttl, fence retention)
--   ARGV[4]  "1" to mark the lock as awaited if it is held
--   ARGV[5]  "1" if this server alone decides (a single instance): the
--            fence issued is the lease's fence. Otherwise fence.lua sets lf.
-- Returns {1, fence} having taken the lock, or {0, remaining ms} when
-- another holder's lease is live.
local key = KEYS[1]
local t = redis.call('TIME')
local now_us = t[1] * 1000000 + t[2]
local now_ms = math.floor(now_us / 1000)
local f = redis.call('HMGET', key, 'tok', 'exp', 'fence')
local exp = tonumber(f[2] or 0)
if f[1] and exp > now_ms then
  if ARGV[4] == '1' then
    redis.call('HSET', key, 'wait', '1')
  end
  return {0, exp - now_ms}
end
-- The fence is one more than the last one issued here, and never less than
-- this server's time in microseconds: a counter lost with its key (a
-- restart without persistence, a failover to a lagging replica, a key idle
-- past the retention) restarts above every fence issued before.
local fence = tonumber(f[3] or 0) + 1
if fence < now_us then
  fence = now_us
end
local fs = string.format('%.0f', fence)
redis.call('HSET', key, 'tok', ARGV[1], 'exp', string.format('%.0f', now_ms + tonumber(ARGV[2])), 'fence', fs)
if ARGV[5] == '1' then
  redis.call('HSET', key, 'lf', fs)
else
  redis.call('HDEL', key, 'lf')
end
redis.call('PEXPIRE', key, ARGV[3])
return {1, fence}
