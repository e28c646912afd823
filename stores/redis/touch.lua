-- touch.lua: slide a session's idle expiry (sessions.Touch) after the
-- read that found it due, off that read's path (the store's cache; see
-- touch.go). It writes nothing on a record that is no longer live at the
-- read's now, so it never brings back a session deleted, regenerated
-- away or expired meanwhile.
--   KEYS[1] the session hash
--   ARGV[1] now (ms): when the read found the session live;
--   ARGV[2] Touch.Before (ms); ARGV[3] Touch.IdleExp (ms)
-- Returns the score to register the session under (see reregister in
-- lib.lua), 0 for none, or -1 when there is no live record (written
-- nothing).
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'idle_exp', 'abs_exp', 'fmt', 'pending', 'reg')
if unknown(meta[3]) or meta[4] or not live(now, meta[1], meta[2]) then
  return -1
end
if tonumber(meta[1]) >= tonumber(ARGV[2]) then
  return 0
end
local idle = tonumber(ARGV[3])
redis.call('HSET', key, 'idle_exp', ARGV[3])
expire(key, now, idle, tonumber(meta[2]))
if idle > now then
  return reregister(key, now, idle, tonumber(meta[2]), meta[5])
end
return 0
