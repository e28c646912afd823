-- store.lua: puts a value at a key, with its modification time, and lists
-- the key in the index, in one atomic step.
--   KEYS[1]  the key's hash ({prefix}f:<key>)
--   KEYS[2]  the index ({prefix}index)
--   ARGV[1]  the key
--   ARGV[2]  the value
-- Returns the modification time written: the server's TIME in Unix ms.
local t = redis.call('TIME')
local now_ms = math.floor((t[1] * 1000000 + t[2]) / 1000)
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'm', now_ms)
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return now_ms
