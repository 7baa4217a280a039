-- READ_TASKS: read up to `count` new entries of one tenant's task stream for one consumer,
-- within the tenant's quotas, which every Worker shares because they live here.
--
-- Checks, in order (each only when set; 0 means no limit):
--   1. tasks in flight: the entries pending to the group (delivered, not yet acked, by any
--      consumer; XPENDING) plus those read now may not exceed `max_in_flight`;
--   2. rate: one token per entry read, from a token bucket of `burst` tokens refilled at
--      `rate` tokens a second on the server's clock (TIME), kept in the quota hash.
-- Does: XREADGROUP COUNT (as many as both allow, never 0: that would mean all) from `>`;
-- takes the tokens of what was read. Then the throttle state in the quota hash: a limit
-- that held back entries still waiting in the stream sets `throttled` (and its reason);
-- a read no limit held back clears it. The reader that saw a change reports it, so each
-- change is reported once. A tenant without limits never touches the quota hash.
-- Reply: {entries, limit that held this read back or '', ms until the bucket has a token
-- (0: unknown or not limited by rate), change ('', 'throttled' or 'released'), the limit
-- the change is about, the newest entry id of the stream ('0-0' when empty)}.

local tasks_key = KEYS[1]
local quota_key = KEYS[2]

local group = ARGV[1]
local consumer = ARGV[2]
local count = ARGV[3]
local max_in_flight = ARGV[4]
local rate = ARGV[5]
local burst = ARGV[6]
count, max_in_flight = tonumber(count), tonumber(max_in_flight)
rate, burst = tonumber(rate), tonumber(burst)

local TOKENS, AT, THROTTLED = $QUOTA_TOKENS, $QUOTA_AT, $QUOTA_THROTTLED

local function newest_id()
  local last = redis.call('XREVRANGE', tasks_key, '+', '-', 'COUNT', 1)
  if last[1] then return last[1][1] end
  return '0-0'
end

local function later(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end

local function last_delivered()
  local groups = redis.call('XINFO', 'GROUPS', tasks_key)
  for _, info in ipairs(groups) do
    local found, last = false, '0-0'
    for i = 1, #info, 2 do
      if info[i] == 'name' and info[i + 1] == group then found = true end
      if info[i] == 'last-delivered-id' then last = info[i + 1] end
    end
    if found then return last end
  end
  return '0-0'
end

local allowed, limited, retry_ms = count, '', 0
if max_in_flight > 0 then
  local room = max_in_flight - redis.call('XPENDING', tasks_key, group)[1]
  if room < allowed then allowed, limited = math.max(room, 0), 'in_flight' end
end
local tokens, now = 0, 0
if rate > 0 then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  local stored = redis.call('HMGET', quota_key, TOKENS, AT)
  tokens = tonumber(stored[1]) or burst
  local at = tonumber(stored[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local whole = math.floor(tokens)
  if whole < allowed then
    allowed, limited = whole, 'rate'
    retry_ms = math.ceil((1 - (tokens - whole)) / rate * 1000)
  end
end

local entries = {}
if allowed > 0 then
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', allowed,
    'STREAMS', tasks_key, '>')
  if reply and reply[1] then
    -- One stream: {{stream, entries}} (some servers give {stream, entries}).
    if type(reply[1]) == 'table' then entries = reply[1][2] else entries = reply[2] end
  end
end
if rate > 0 then
  redis.call('HSET', quota_key, TOKENS, tokens - #entries, AT, now)
end

local newest = newest_id()
local change, about = '', ''
if max_in_flight > 0 or rate > 0 then
  local state = redis.call('HGET', quota_key, THROTTLED)
  local held = limited ~= '' and later(newest, last_delivered())
  if held and not state then
    redis.call('HSET', quota_key, THROTTLED, limited)
    change, about = 'throttled', limited
  elseif held and state ~= limited then
    redis.call('HSET', quota_key, THROTTLED, limited)
  elseif not held and state then
    redis.call('HDEL', quota_key, THROTTLED)
    change, about = 'released', state
  end
end
return {entries, limited, retry_ms, change, about, newest}
