-- release.lua: ends the lease if the token holds it, keeping the fence
-- counter, and, for a holder's release, tells waiters.
--   KEYS[1]  the lock hash (see acquire.lua)
--   ARGV[1]  token
--   ARGV[2]  fence retention in ms: the key's TTL once released
--   ARGV[3]  the release channel
--   ARGV[4]  the message: the lock's key as the caller named it
--   ARGV[5]  "1" for a holder's release: clear the wait mark and, if it was
--            set, publish the message. "0" to undo what an attempt took (a
--            failed attempt, or a late call of a granted one): publish
--            nothing and leave the mark for the holder's release to
--            announce.
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
if ARGV[5] == '1' then
  redis.call('HDEL', key, 'tok', 'exp', 'lf', 'wait')
  if f[3] then
    redis.call('PUBLISH', ARGV[3], ARGV[4])
  end
else
  redis.call('HDEL', key, 'tok', 'exp', 'lf')
end
redis.call('PEXPIRE', key, ARGV[2])
if tonumber(f[2] or 0) <= now_ms then
  return 0
end
return 1
