-- DEAD_LETTER_RESULT: give up on a task whose Result no Judge could judge, with a reason.
--
-- A Judge whose swarm.yaml does not know a Result's skill (config drift) leaves the
-- Result for an up-to-date Judge; when none took it within the bound, the task is
-- dead-lettered, replayable, rather than denied for good.
-- Checks, in order, after acking the Result's entry (XACK and XDEL, whatever follows):
--   1. the task has not settled and waits for no review;
--   2. its ledger row is still the row the Judge looked up (`expected_row`): a stale
--      Result of an attempt the task has moved past changes nothing.
-- Does, when both hold: XADD the dead letter, drop the ledger row, mark the task settled
-- as dead-lettered, count it in the session and, with an `event_id`, keep its audit event
-- in the tenant's pending-audit hash.
-- Reply: 1 when the dead letter was written, else 0.

local results_key = KEYS[1]
local ledger_key = KEYS[2]
local settled_key = KEYS[3]
local review_key = KEYS[4]
local dlq_key = KEYS[5]
local session_key = KEYS[6]
local audit_pending_key = KEYS[7]

local group = ARGV[1]
local entry_id = ARGV[2]
local task_id = ARGV[3]
local expected_row = ARGV[4]
local letter_json = ARGV[5]
local event_id = ARGV[6]
local event_json = ARGV[7]

local BODY = $BODY
local SETTLED_DEAD_LETTERED = $SETTLED_DEAD_LETTERED
local DEAD_LETTERED = $COUNT_DEAD_LETTERED

redis.call('XACK', results_key, group, entry_id)
redis.call('XDEL', results_key, entry_id)
if redis.call('HEXISTS', settled_key, task_id) == 1
    or redis.call('HEXISTS', review_key, task_id) == 1 then
  return 0
end
if redis.call('HGET', ledger_key, task_id) ~= expected_row then return 0 end
redis.call('XADD', dlq_key, '*', BODY, letter_json)
redis.call('HDEL', ledger_key, task_id)
redis.call('HSET', settled_key, task_id, SETTLED_DEAD_LETTERED)
redis.call('HINCRBY', session_key, DEAD_LETTERED, 1)
if event_id ~= '' then redis.call('HSET', audit_pending_key, event_id, event_json) end
return 1
