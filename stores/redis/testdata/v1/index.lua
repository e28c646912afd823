-- index.lua: list a session under its principal.
--   KEYS[1] the principal's index, a sorted set of session keys scored by
--           a time (ms) at or after which that session is certainly dead
--   ARGV[1] now (ms); ARGV[2] the session's score; ARGV[3] the session key
-- Drops the entries already dead, adds (or raises) this one, and sets the
-- index's TTL so Redis drops it with its last live entry. Scores are only
-- ever raised, so an entry never lapses before its session.
local idx = KEYS[1]
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
if tonumber(ARGV[2]) > now then
  redis.call('ZADD', idx, 'GT', ARGV[2], ARGV[3])
end
local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIRE', idx, tonumber(top[2]) - now)
end
return 0
