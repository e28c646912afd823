-- load.lua: read a session and optionally slide its idle expiry (Touch),
-- in one step.
--   KEYS[1] the session hash
--   ARGV[1] now (ms); ARGV[2] "1" to touch, else "0";
--   ARGV[3] Touch.Before (ms); ARGV[4] Touch.IdleExp (ms)
-- Returns the hash's fields and values as a flat array, after the touch
-- (when the touch re-registered the session, see reregister in lib.lua,
-- followed by the pair '!register', the new score); nil if there is no
-- live record (an expired one is deleted; a copy
-- Regenerate prepared but has not finished is not a session yet); REPLACED
-- on a live tombstone; UNSUPPORTED for a record in a newer format.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'idle_exp', 'abs_exp', 'tomb', 'fmt', 'pending', 'reg')
if unknown(meta[4]) then
  return UNSUPPORTED
end
if meta[5] then
  return false
end
if not live(now, meta[1], meta[2]) then
  if meta[1] or meta[2] then
    redis.call('DEL', key)
  end
  if gone(now, meta[3]) == REPLACED then
    return REPLACED
  end
  return false
end
local reg = 0
if ARGV[2] == '1' and tonumber(meta[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', key, 'idle_exp', ARGV[4])
  expire(key, now, tonumber(ARGV[4]), tonumber(meta[2]))
  if tonumber(ARGV[4]) > now then
    reg = reregister(key, now, tonumber(ARGV[4]), tonumber(meta[2]), meta[6])
  end
end
local all = redis.call('HGETALL', key)
if #all == 0 then
  -- The touch set an idle expiry already past: the key is gone.
  return false
end
if reg > 0 then
  all[#all + 1] = '!register'
  all[#all + 1] = string.format('%d', reg)
end
return all
