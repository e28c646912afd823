-- commit.lua: Regenerate's commit, on the old key alone (the new one may
-- live on another cluster node). If the old session is live, still sealed
-- by this call, still at the version seal.lua read (a writer that does
-- not know seals, such as a format 1 build's apply.lua during an upgrade,
-- may have written meanwhile) and the seal has not ended by the server's
-- clock (it ends at the commit limit), it deletes the old session,
-- leaving a tombstone when asked to. From here on the prepared copy is
-- the session.
--   KEYS[1] the old session hash
--   ARGV[1] now (ms); ARGV[2] the nonce of this Regenerate call;
--   ARGV[3] the tombstone's life (ms; 0: none); ARGV[4] the version
--   seal.lua read
-- Returns OK, or NOT_FOUND, REPLACED, CONFLICT (not sealed by this call),
-- CHANGED (written since the seal: the seal is lifted), LATE (the seal
-- ended: the seal is lifted) or UNSUPPORTED, having written nothing else.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local meta = redis.call('HMGET', key, 'idle_exp', 'abs_exp', 'tomb', 'fmt', 'seal', 'seal_until', 'version')
if unknown(meta[4]) then
  return UNSUPPORTED
end
if not live(now, meta[1], meta[2]) then
  return gone(now, meta[3])
end
if meta[5] ~= ARGV[2] then
  return CONFLICT
end
if tonumber(meta[7]) ~= tonumber(ARGV[4]) then
  redis.call('HDEL', key, 'seal', 'seal_until')
  return CHANGED
end
if not sealed(meta[5], meta[6]) then
  redis.call('HDEL', key, 'seal', 'seal_until')
  return LATE
end
redis.call('DEL', key)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('HSET', key, 'tomb', now + ttl, 'fmt', FORMAT)
  redis.call('PEXPIRE', key, ttl)
end
return OK
