-- lib.lua: helpers shared by the session scripts. The store prepends this
-- file to every script but index.lua and unhandle.lua.
--
-- A session is one hash. Meta fields: version, created, idle_exp, abs_exp
-- (Unix milliseconds on the store clock), principal, size (the running
-- sessions.Record.Size), fmt (the format, FORMAT; absent in records written
-- before it existed, which are format 1 and read the same way), and, while
-- Regenerate prepares it, pending; on a session Regenerate is moving, seal
-- (the nonce of that call) and seal_until (Unix µs, server clock). Details
-- for operators, each absent when empty: handle (the public handle, which
-- the key <prefix>h:<handle> maps back to the session key), ip and ua (the
-- client that created it). reg is the score under which the session is
-- registered in the live-session count (its expiry then, Unix ms; see
-- reregister). A format 1 or 2 build that predates these four ignores
-- them. One field "a:<name>" per attribute, holding the raw JSON value.
-- A tombstone is a hash with only tomb (when it lapses, Unix ms on the
-- store clock) and fmt: a build that predates
-- tombstones finds no idle_exp/abs_exp in it and sees an absent session.
-- ARGV[1] of every session script is the store clock's now in Unix ms.

-- Result codes, mirrored in scripts.go.
local OK, NOT_FOUND, CONFLICT, TOO_LARGE, EXISTS, REINDEX = 0, 1, 2, 3, 4, 5
local REPLACED, LATE, UNSUPPORTED, LOST, SEALED, CHANGED = 6, 7, 8, 9, 10, 11

-- FORMAT is the record format these scripts write. They read formats 1
-- and 2 alike and refuse to touch a newer one (UNSUPPORTED).
local FORMAT = 2

-- server_now is the server's clock in Unix microseconds.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- late reports whether the server's clock (TIME) is past limit, the last
-- Unix microsecond at which the caller's write may commit (0: no limit).
-- Every committing script calls it after its checks and before its first
-- write, so a script that a stalled server runs after the caller gave up
-- refuses, having written nothing.
local function late(limit)
  limit = tonumber(limit)
  return limit ~= 0 and server_now() > limit
end

-- sealed reports whether a seal (seal and seal_until hash values, false
-- when absent) is in force: Regenerate is moving the session, and writes
-- must wait until it has committed (the key is then gone) or given up.
local function sealed(seal, seal_until)
  return seal and tonumber(seal_until) ~= nil and server_now() <= tonumber(seal_until)
end

-- gone is the code for a key without a live record whose tomb and fmt
-- fields are tomb and fmt: REPLACED while a tombstone lasts, else
-- NOT_FOUND.
local function gone(now, tomb)
  tomb = tonumber(tomb)
  if tomb ~= nil and now < tomb then
    return REPLACED
  end
  return NOT_FOUND
end

-- unknown reports whether fmt (a hash value, false when absent) names a
-- format newer than these scripts know.
local function unknown(fmt)
  return fmt and (tonumber(fmt) or FORMAT + 1) > FORMAT
end

-- live reports whether a record whose expiry fields are idle and abs (hash
-- values, false when absent) is live at now.
local function live(now, idle, abs)
  idle, abs = tonumber(idle), tonumber(abs)
  return idle ~= nil and abs ~= nil and now < idle and now < abs
end

-- expire makes Redis drop key at the earlier of idle and abs. The TTL is
-- relative to now (the store clock), so it is right even when the Redis
-- host's clock differs from the store's; a TTL <= 0 deletes the key.
local function expire(key, now, idle, abs)
  redis.call('PEXPIRE', key, math.min(idle, abs) - now)
end

-- hset_record writes a new record's meta fields from the ARGV layout of
-- create.lua and prepare.lua (ARGV[2..10]; see create.lua), registered
-- at its expiry.
local function hset_record(key)
  redis.call('HSET', key, 'version', ARGV[2], 'created', ARGV[3], 'idle_exp', ARGV[4],
    'abs_exp', ARGV[5], 'principal', ARGV[6], 'size', ARGV[7], 'fmt', FORMAT,
    'reg', math.min(tonumber(ARGV[4]), tonumber(ARGV[5])))
  local names = {'handle', 'ip', 'ua'}
  for i = 1, 3 do
    if ARGV[7 + i] ~= '' then
      redis.call('HSET', key, names[i], ARGV[7 + i])
    end
  end
end

-- reregister is called when a write or a touch has set key's idle expiry
-- to idle (abs being its absolute expiry, reg its reg field). When the
-- expiry has moved past the score the session is registered with by more
-- than a margin (a minute, or an eighth of the time left when that is
-- shorter), it records the new expiry as reg and returns it, for the
-- store to register the session under it; else it returns 0. So a
-- session's registration lags its expiry by at most the margin, and is
-- renewed about once per margin of activity, not on every request.
local function reregister(key, now, idle, abs, reg)
  local exp = math.min(idle, abs)
  local margin = math.min(60000, math.floor((exp - now) / 8))
  if exp > (tonumber(reg) or 0) + margin then
    redis.call('HSET', key, 'reg', exp)
    return exp
  end
  return 0
end

-- hset_attrs writes the attribute name/value pairs in ARGV[first..last]
-- into key as "a:<name>" fields, in batches so no call has too many
-- arguments for Lua's stack.
local function hset_attrs(key, first, last)
  local batch = {}
  for i = first, last, 2 do
    batch[#batch + 1] = 'a:' .. ARGV[i]
    batch[#batch + 1] = ARGV[i + 1]
    if #batch >= 200 then
      redis.call('HSET', key, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then
    redis.call('HSET', key, unpack(batch))
  end
end

-- Delta arguments, shared by apply.lua and take.lua:
--   ARGV[2] base version (0: unconditional)
--   ARGV[3] max bytes (0: unlimited)
--   ARGV[4] new idle expiry in ms (0: unchanged)
--   ARGV[5] "1" if the principal is replaced, else "0"
--   ARGV[6] the new principal
--   ARGV[7] n, the number of attributes set
--   ARGV[8] the index bound (ms): 0 when ARGV[5] is "0" or the new
--           principal is empty; else the time until which the principal's
--           index is known to list the session (apply.lua refuses with
--           REINDEX a session living past it)
--   ARGV[9] the commit limit (Unix µs on the server's clock; 0: none)
--   ARGV[10 .. 9+2n] name/value pairs to set
--   ARGV[10+2n ..] names to delete
-- The store sends set and deleted names disjoint and without repeats (a
-- name both set and deleted is only deleted), so sizes add up.
local DELTA_SET = 10

-- attr_size is what attribute name currently counts towards the size of
-- the session at key: #name + #value, or 0 if it is absent. O(1).
local function attr_size(key, name)
  local field = 'a:' .. name
  local n = redis.call('HSTRLEN', key, field)
  if n == 0 and redis.call('HEXISTS', key, field) == 0 then
    return 0
  end
  return #name + n
end

-- check_delta loads the meta fields of key and checks the delta in ARGV
-- against them, writing nothing except deleting an expired record. It
-- returns a result code and, on OK, the meta fields (version, idle_exp,
-- abs_exp, size, created, tomb, fmt, seal, seal_until, pending, reg) and
-- the size after the delta; SEALED
-- while Regenerate is moving the session. The cost is O(size of the
-- delta), never O(size of the session).
local function check_delta(key, now)
  local meta = redis.call('HMGET', key, 'version', 'idle_exp', 'abs_exp', 'size', 'created', 'tomb', 'fmt',
    'seal', 'seal_until', 'pending', 'reg')
  if unknown(meta[7]) then
    return UNSUPPORTED
  end
  if meta[10] then
    -- A copy Regenerate prepared: not a session until it is finished.
    return NOT_FOUND
  end
  if not live(now, meta[2], meta[3]) then
    if meta[2] or meta[3] then
      redis.call('DEL', key)
    end
    return gone(now, meta[6])
  end
  if sealed(meta[8], meta[9]) then
    return SEALED
  end
  local base = tonumber(ARGV[2])
  if base > 0 and tonumber(meta[1]) ~= base then
    return CONFLICT
  end
  local size = tonumber(meta[4]) or 0
  local last_set = DELTA_SET - 1 + 2 * tonumber(ARGV[7])
  for i = DELTA_SET, last_set, 2 do
    size = size + #ARGV[i] + #ARGV[i + 1] - attr_size(key, ARGV[i])
  end
  for i = last_set + 1, #ARGV do
    size = size - attr_size(key, ARGV[i])
  end
  local max = tonumber(ARGV[3])
  if max > 0 and size > max then
    return TOO_LARGE
  end
  return OK, meta, size
end
