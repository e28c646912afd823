-- seal.lua: Regenerate's first step, on the old key. Reads the live
-- session and seals it for this call: until the seal ends (the commit
-- limit, or ARGV[4] from now without one), apply.lua answers SEALED and
-- writers wait, so no write can land between this read and commit.lua
-- (which would be lost from the copy). A write that committed before is
-- in what this returns.
--   KEYS[1] the old session hash
--   ARGV[1] now (ms); ARGV[2] the commit limit (Unix µs, server clock;
--   0: none); ARGV[3] the nonce naming this Regenerate call; ARGV[4] how
--   long the seal lasts without a limit (ms)
-- Returns the hash's fields and values as a flat array (seal included), or
-- NOT_FOUND, REPLACED, SEALED (another Regenerate is moving it), LATE or
-- UNSUPPORTED, having written nothing.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'idle_exp', 'abs_exp', 'tomb', 'fmt', 'seal', 'seal_until')
if unknown(meta[4]) then
  return UNSUPPORTED
end
if not live(now, meta[1], meta[2]) then
  if meta[1] or meta[2] then
    redis.call('DEL', key)
  end
  return gone(now, meta[3])
end
if meta[5] ~= ARGV[3] and sealed(meta[5], meta[6]) then
  return SEALED
end
local t = server_now()
local limit = tonumber(ARGV[2])
if limit > 0 and t > limit then
  return LATE
end
if limit == 0 then
  limit = t + tonumber(ARGV[4]) * 1000
end
redis.call('HSET', key, 'seal', ARGV[3], 'seal_until', limit)
return redis.call('HGETALL', key)
