-- SCAN_IDS: one step of a scan over a hash keyed by task id, for retention.
--
-- Checks nothing; reads only. A field that is not a ULID (26 characters) is left out: its
-- time cannot be read off it.
-- Does: HSCAN from `cursor` for about `count` fields and keeps the first ten characters
-- (the ULID's time, which sorts as text) of each task id.
-- Reply: {next cursor, time prefix...}; the cursor is "0" when the scan is done.

local records_key = KEYS[1]

local cursor = ARGV[1]
local count = ARGV[2]

local ULID_LENGTH, TIME_LENGTH = 26, 10

local step = redis.call('HSCAN', records_key, cursor, 'COUNT', count)
local reply = {step[1]}
local found = step[2]
for i = 1, #found, 2 do
  local id = found[i]
  if #id == ULID_LENGTH then reply[#reply + 1] = string.sub(id, 1, TIME_LENGTH) end
end
return reply
