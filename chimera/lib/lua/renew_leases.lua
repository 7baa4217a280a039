-- RENEW_LEASES: reset the idle time of the entries a consumer still owns (in a task stream,
-- for a Worker, or a result stream, for a Judge).
--
-- Checks, per entry: it is still pending and owned by this consumer (XPENDING for that
-- one id). An entry another consumer reclaimed, or that was acked, is left alone, so a
-- renewal never takes an entry back.
-- Does, per owned entry: XCLAIM ... 0 ... JUSTID to itself, which resets the idle time
-- without counting a delivery.
-- Reply: the ids still owned.

local stream_key = KEYS[1]

local group = ARGV[1]
local consumer = ARGV[2]
-- ARGV[3..]: the entry ids to renew.
local FIRST_ID = 3

local owned = {}
for i = FIRST_ID, #ARGV do
  local entry_id = ARGV[i]
  local pending = redis.call('XPENDING', stream_key, group, entry_id, entry_id, 1)
  if pending[1] and pending[1][2] == consumer then
    redis.call('XCLAIM', stream_key, group, consumer, 0, entry_id, 'JUSTID')
    owned[#owned + 1] = entry_id
  end
end
return owned
