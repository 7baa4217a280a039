-- PARK_FOR_REVIEW: ack a task entry and park the task in the review queue: its agent
-- stopped at tool calls a human must approve first.
--
-- Checks, in order:
--   1. the entry is still pending to the group (XACK returns 1); if not, another consumer
--      acked it first and nothing changes;
--   2. the task is live (it has a ledger row), has not settled (committed, denied,
--      dead-lettered, cancelled) and waits for no review already: a stale copy is acked and
--      deleted, nothing else. The ledger row, not the settled mark, is what tells a live
--      task: retention may trim settled marks (docs/retention.md).
-- Does: XDEL the entry; store the review item (the conversation and the calls that wait)
-- under the task id; count one review in the session; keep the audit event (`event_*`;
-- an empty id keeps nothing) in the tenant's pending-audit hash in the same step. The
-- ledger row stays: the task is live, and resumes as the same attempt.
-- Reply: 1 when parked, else 0.

local tasks_key = KEYS[1]
local ledger_key = KEYS[2]
local settled_key = KEYS[3]
local review_key = KEYS[4]
local session_key = KEYS[5]
local audit_pending_key = KEYS[6]

local group = ARGV[1]
local entry_id = ARGV[2]
local task_id = ARGV[3]
local item_json = ARGV[4]
local event_id = ARGV[5]
local event_json = ARGV[6]

local COUNT_REVIEW = $COUNT_REVIEW

if redis.call('XACK', tasks_key, group, entry_id) == 0 then return 0 end
redis.call('XDEL', tasks_key, entry_id)
if redis.call('HEXISTS', ledger_key, task_id) == 0
    or redis.call('HEXISTS', settled_key, task_id) == 1
    or redis.call('HEXISTS', review_key, task_id) == 1 then
  return 0
end
redis.call('HSET', review_key, task_id, item_json)
redis.call('HINCRBY', session_key, COUNT_REVIEW, 1)
if event_id ~= '' then redis.call('HSET', audit_pending_key, event_id, event_json) end
return 1
