-- STORE_RUN: write a pipeline run's new state and enqueue the tasks of its steps that just
-- became ready, as one unit: a step is enqueued exactly when the run says it is running.
--
-- Checks: the run's version is still `expected_version` (`0`: a new run, none stored), a
-- compare-and-set against every other process advancing the same run; on a mismatch
-- nothing changes and the reply is -1 (read the run again and recompute).
-- Does, atomically: SET the run's JSON and bump its version; keep its id in the active set
-- while the sweep must look at it (`active` = 1: unfinished, or tasks still open), drop it
-- after; per task not seen before (no ledger row, not settled: step task ids are
-- deterministic, so a task is never enqueued twice), XADD the entry (body and
-- traceparent), write its ledger row, add it to the session's task set and count it
-- submitted; add the session to the tenant's sessions; keep each audit event in the
-- pending-audit hash, to be handed to the sinks.
-- Reply: how many tasks were enqueued, or -1 when the version did not match.

local runs_key = KEYS[1]
local run_versions_key = KEYS[2]
local runs_active_key = KEYS[3]
local tasks_key = KEYS[4]
local ledger_key = KEYS[5]
local settled_key = KEYS[6]
local session_key = KEYS[7]
local sessions_key = KEYS[8]
local session_tasks_key = KEYS[9]
local audit_pending_key = KEYS[10]

local run_id = ARGV[1]
local expected_version = ARGV[2]
local run_json = ARGV[3]
local active = ARGV[4]
local session_id = ARGV[5]
local event_count = ARGV[6]
-- ARGV[7..]: event_count (event id, event JSON) pairs, then (task id, task JSON,
-- traceparent) per task.
local FIRST_EVENT = 7

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT
local SUBMITTED = $COUNT_SUBMITTED

local version = redis.call('HGET', run_versions_key, run_id) or '0'
if version ~= expected_version then return -1 end

redis.call('HSET', runs_key, run_id, run_json)
redis.call('HSET', run_versions_key, run_id, tonumber(version) + 1)
if active == '1' then
  redis.call('SADD', runs_active_key, run_id)
else
  redis.call('SREM', runs_active_key, run_id)
end

local first_task = FIRST_EVENT + 2 * tonumber(event_count)
for i = FIRST_EVENT, first_task - 1, 2 do
  redis.call('HSET', audit_pending_key, ARGV[i], ARGV[i + 1])
end

local added = 0
for i = first_task, #ARGV, 3 do
  local task_id, task_json, traceparent = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HEXISTS', ledger_key, task_id) == 0
      and redis.call('HEXISTS', settled_key, task_id) == 0 then
    redis.call('XADD', tasks_key, '*', BODY, task_json, TRACEPARENT, traceparent)
    redis.call('HSET', ledger_key, task_id, task_json)
    redis.call('SADD', session_tasks_key, task_id)
    added = added + 1
  end
end
if added > 0 then
  redis.call('SADD', sessions_key, session_id)
  redis.call('HINCRBY', session_key, SUBMITTED, added)
end
return added
