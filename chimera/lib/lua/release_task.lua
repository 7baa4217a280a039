-- RELEASE_TASK: hand an unfinished task back so any Worker can take it at once.
--
-- Checks: the entry is still pending to the group (XACK returns 1); if not, another
-- consumer acked it first and nothing changes.
-- Does: XDEL the entry and XADD its body again as a fresh entry (so its delivery count
-- starts over), with the trace context the entry came with (`traceparent`, '' for none).
-- Reply: 1 when handed back, else 0.

local tasks_key = KEYS[1]

local group = ARGV[1]
local entry_id = ARGV[2]
local body = ARGV[3]
local traceparent = ARGV[4]

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT

if redis.call('XACK', tasks_key, group, entry_id) == 0 then return 0 end
redis.call('XDEL', tasks_key, entry_id)
if traceparent ~= '' then
  redis.call('XADD', tasks_key, '*', BODY, body, TRACEPARENT, traceparent)
else
  redis.call('XADD', tasks_key, '*', BODY, body)
end
return 1
