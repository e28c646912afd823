-- fence.lua: the second step of a quorum acquisition. Records the lease's
-- fence (the highest any master of the quorum proposed) as lf, and raises
-- the fence counter to it, so that every later quorum, which shares a
-- master with this one, proposes more.
--   KEYS[1]  the lock hash (see acquire.lua)
--   ARGV[1]  token
--   ARGV[2]  the lease's fence
-- Returns 1 if the token still holds the lock here, 0 otherwise.
local key = KEYS[1]
local f = redis.call('HMGET', key, 'tok', 'fence')
if f[1] ~= ARGV[1] then
  return 0
end
if tonumber(f[2] or 0) < tonumber(ARGV[2]) then
  redis.call('HSET', key, 'fence', ARGV[2])
end
redis.call('HSET', key, 'lf', ARGV[2])
return 1
