-- prepare.lua: Regenerate's first write. Stores the regenerated session
-- under the new key, marked pending and with a short TTL: until commit.lua
-- has taken the old key and finish.lua has made this one permanent, it is
-- garbage that expires by itself. Nobody can reach it meanwhile: the new
-- key is known only to the Regenerate call under way.
--   KEYS[1] the new session hash
--   ARGV[1] now (ms); ARGV[2] version; ARGV[3] created (ms);
--   ARGV[4] idle_exp (ms); ARGV[5] abs_exp (ms); ARGV[6] principal;
--   ARGV[7] size; ARGV[8] handle; ARGV[9] client ip; ARGV[10] user agent
--   ("" for none); ARGV[11] the nonce naming this Regenerate call;
--   ARGV[12] the pending TTL (ms); ARGV[13..] attribute name/value pairs
-- Returns OK, or EXISTS (writing nothing) if the key holds a live record
-- that another call prepared or that is not pending. One this call
-- prepared before (a retry) is replaced.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'idle_exp', 'abs_exp', 'pending')
if live(now, meta[1], meta[2]) and meta[3] ~= ARGV[11] then
  return EXISTS
end
redis.call('DEL', key)
hset_record(key)
redis.call('HSET', key, 'pending', ARGV[11])
hset_attrs(key, 13, #ARGV)
redis.call('PEXPIRE', key, math.min(tonumber(ARGV[12]),
  math.min(tonumber(ARGV[4]), tonumber(ARGV[5])) - now))
return OK
