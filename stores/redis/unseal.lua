-- unseal.lua: lift the seal seal.lua put on a session, when the
-- Regenerate that sealed it gives up before committing.
--   KEYS[1] the old session hash
--   ARGV[1] the nonce of that Regenerate call
-- Returns OK; a seal of another call is left alone.
if redis.call('HGET', KEYS[1], 'seal') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'seal', 'seal_until')
end
return OK
