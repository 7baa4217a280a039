-- RETRY_TASK: ack a task entry and schedule the task's next attempt.
--
-- Checks, in order:
--   1. the entry is still pending to the group (XACK returns 1); if not, another consumer
--      acked it first and nothing changes;
--   2. the task is live (it has a ledger row), has not settled and waits for no review: a
--      stale copy of a task whose other copy already won is acked and deleted, and nothing
--      is scheduled. The ledger row, not the settled mark, is what tells a live task:
--      retention may trim settled marks (docs/retention.md).
-- Does: XDEL the entry; ZADD the next attempt's JSON to the delayed set at its due time;
-- rewrite the ledger row to it (the Judge compares Results against that row); keep the
-- trace context the next attempt continues from under the task id (`delayed_traces`, read
-- by PROMOTE_DUE; dropped when there is none); count a retry in the session unless told
-- not to (a halted session's task is deferred, not retried).
-- With an `event_id`, keep the `retried` audit event in the tenant's pending-audit hash in
-- the same step (only when the retry happened).
-- Reply: 1 when the next attempt was scheduled, else 0.

local tasks_key = KEYS[1]
local ledger_key = KEYS[2]
local settled_key = KEYS[3]
local review_key = KEYS[4]
local delayed_key = KEYS[5]
local delayed_traces_key = KEYS[6]
local session_key = KEYS[7]
local audit_pending_key = KEYS[8]

local group = ARGV[1]
local entry_id = ARGV[2]
local task_id = ARGV[3]
local next_json = ARGV[4]
local due = ARGV[5]
local count_retry = ARGV[6]
local event_id = ARGV[7]
local event_json = ARGV[8]
local traceparent = ARGV[9]

local RETRIED = $COUNT_RETRIED

if redis.call('XACK', tasks_key, group, entry_id) == 0 then return 0 end
redis.call('XDEL', tasks_key, entry_id)
if redis.call('HEXISTS', ledger_key, task_id) == 0
    or redis.call('HEXISTS', settled_key, task_id) == 1
    or redis.call('HEXISTS', review_key, task_id) == 1 then
  return 0
end
redis.call('ZADD', delayed_key, due, next_json)
redis.call('HSET', ledger_key, task_id, next_json)
if traceparent ~= '' then
  redis.call('HSET', delayed_traces_key, task_id, traceparent)
else
  redis.call('HDEL', delayed_traces_key, task_id)
end
if count_retry == '1' then redis.call('HINCRBY', session_key, RETRIED, 1) end
if event_id ~= '' then redis.call('HSET', audit_pending_key, event_id, event_json) end
return 1
