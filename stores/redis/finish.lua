-- finish.lua: Regenerate's last step, on the new key: after commit.lua
-- succeeded, make the prepared session permanent (clear pending, TTL to
-- its expiry); after it refused, discard the prepared copy.
--   KEYS[1] the new session hash
--   ARGV[1] now (ms); ARGV[2] the nonce prepare.lua marked it with;
--   ARGV[3] "1" to keep it, "0" to discard it
-- Returns OK; when keeping, LOST if the copy is gone (its pending TTL ran
-- out) or is not this call's. Keeping a copy already kept (a retry after a
-- lost reply) is OK.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'pending', 'idle_exp', 'abs_exp')
if ARGV[3] == '0' then
  if meta[1] == ARGV[2] then
    redis.call('DEL', key)
  end
  return OK
end
if meta[1] ~= ARGV[2] then
  if meta[1] == false and live(now, meta[2], meta[3]) then
    return OK
  end
  return LOST
end
redis.call('HDEL', key, 'pending')
expire(key, now, tonumber(meta[2]), tonumber(meta[3]))
return OK
