-- delete.lua: deletes keys and takes them out of the index, in one atomic
-- step.
--   KEYS[1]     the index ({prefix}index)
--   KEYS[2..n]  the hashes of the keys ({prefix}f:<key>)
--   ARGV[1..n-1] the keys, in the same order
-- Returns the number of hashes deleted.
local n = 0
if #KEYS > 1 then
  n = redis.call('DEL', unpack(KEYS, 2))
  redis.call('ZREM', KEYS[1], unpack(ARGV))
end
return n
