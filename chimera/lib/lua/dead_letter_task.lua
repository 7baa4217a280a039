-- DEAD_LETTER_TASK: ack a task entry and move the task to the tenant's dead-letter stream.
--
-- Checks, in order:
--   1. the entry is still pending to the group (XACK returns 1); if not, another consumer
--      acked it first and nothing changes;
--   2. (for a decodable task) the task is live (it has a ledger row), has not settled and
--      waits for no review: a stale copy of a task whose other copy already won is acked
--      and deleted, nothing else. The ledger row, not the settled mark, is what tells a
--      live task: retention may trim settled marks (docs/retention.md).
-- Does: XDEL the entry; XADD the dead letter (with the trace context of the attempt that
-- gave up, `traceparent`, '' for none: a replay continues the trace from there). For a decodable task also: drop its ledger
-- row, mark it settled as dead-lettered and count it in the session. An undecodable entry
-- (empty task id) has no ledger row, settled mark or session to update.
-- With an `event_id`, keep the `dead_lettered` audit event in the tenant's pending-audit
-- hash in the same step (only when the dead letter was written).
-- Reply: 1 when the dead letter was written, else 0.

local tasks_key = KEYS[1]
local ledger_key = KEYS[2]
local settled_key = KEYS[3]
local review_key = KEYS[4]
local dlq_key = KEYS[5]
local session_key = KEYS[6]
local audit_pending_key = KEYS[7]

local group = ARGV[1]
local entry_id = ARGV[2]
local task_id = ARGV[3]
local letter_json = ARGV[4]
local event_id = ARGV[5]
local event_json = ARGV[6]
local traceparent = ARGV[7]

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT
local SETTLED_DEAD_LETTERED = $SETTLED_DEAD_LETTERED
local DEAD_LETTERED = $COUNT_DEAD_LETTERED

if redis.call('XACK', tasks_key, group, entry_id) == 0 then return 0 end
redis.call('XDEL', tasks_key, entry_id)
local known = task_id ~= ''
if known and (redis.call('HEXISTS', ledger_key, task_id) == 0
    or redis.call('HEXISTS', settled_key, task_id) == 1
    or redis.call('HEXISTS', review_key, task_id) == 1) then
  return 0
end
if traceparent ~= '' then
  redis.call('XADD', dlq_key, '*', BODY, letter_json, TRACEPARENT, traceparent)
else
  redis.call('XADD', dlq_key, '*', BODY, letter_json)
end
if known then
  redis.call('HDEL', ledger_key, task_id)
  redis.call('HSET', settled_key, task_id, SETTLED_DEAD_LETTERED)
  redis.call('HINCRBY', session_key, DEAD_LETTERED, 1)
end
if event_id ~= '' then redis.call('HSET', audit_pending_key, event_id, event_json) end
return 1
