-- take.lua: the first step of Regenerate. Checks the delta (see lib.lua for
-- ARGV) against the live session and, only if it would succeed, returns
-- the whole session and deletes the key, so that a write racing with the
-- regeneration either committed before (and is in the returned fields) or
-- finds the key gone.
--   KEYS[1] the old session hash
-- Returns {OK, {field, value, ...}}, or {NOT_FOUND}, {CONFLICT} or
-- {TOO_LARGE} having written nothing.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local code = check_delta(key, now)
if code ~= OK then
  return {code}
end
local all = redis.call('HGETALL', key)
redis.call('DEL', key)
return {OK, all}
