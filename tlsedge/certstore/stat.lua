-- stat.lua: says whether a key is a file, a directory or absent.
--   KEYS[1]  the key's hash ({prefix}f:<key>)
--   KEYS[2]  the index ({prefix}index)
--   ARGV[1]  the lower bound of the keys under it, for ZRANGE BYLEX
--            ("[<key>/", or "-" for the root)
--   ARGV[2]  the upper bound ("(<key>0", or "+" for the root)
-- Returns {1, modified ms, size} for a file, {2} for a directory (the
-- prefix of a stored key), {0} otherwise.
local m = redis.call('HGET', KEYS[1], 'm')
if m then
  return {1, tonumber(m), redis.call('HSTRLEN', KEYS[1], 'v')}
end
if #redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, 1) > 0 then
  return {2}
end
return {0}
