-- delete.lua: delete a session (or a lapsed tombstone) unless past the
-- limit.
--   KEYS[1] the session hash
--   ARGV[1] the commit limit (Unix µs, server clock; 0: none)
--   ARGV[2] the store clock's now (Unix ms)
-- Returns {OK, principal, handle} (the deleted record's, "" when none or
-- for a missing key: the store then drops their index entries), {REPLACED}
-- keeping a live tombstone, or {LATE} having deleted nothing.
local meta = redis.call('HMGET', KEYS[1], 'idle_exp', 'abs_exp', 'tomb', 'principal', 'handle')
if not live(tonumber(ARGV[2]), meta[1], meta[2]) and gone(tonumber(ARGV[2]), meta[3]) == REPLACED then
  return {REPLACED}
end
if late(ARGV[1]) then
  return {LATE}
end
redis.call('DEL', KEYS[1])
return {OK, meta[4] or '', meta[5] or ''}
