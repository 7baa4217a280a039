-- ENQUEUE_TASKS: add one session's batch of a tenant's tasks.
--
-- Checks nothing: the Planner has validated the tasks and their ids are new.
-- Does, atomically: per task, XADD the entry (body and traceparent) to the task stream,
-- write its ledger row and add its id to the session's task set; then add the session to
-- the tenant's session set and count the tasks as submitted. A task is therefore never in
-- the stream without its ledger row (the Judge would reject its Result) nor the other way
-- round.
-- Reply: the new stream entry ids, in argument order.

local tasks_key = KEYS[1]
local ledger_key = KEYS[2]
local session_key = KEYS[3]
local sessions_key = KEYS[4]
local session_tasks_key = KEYS[5]

local session_id = ARGV[1]
-- ARGV[2..]: (task id, task JSON, traceparent) per task.
local FIRST_TASK = 2

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT
local SUBMITTED = $COUNT_SUBMITTED

local ids = {}
for i = FIRST_TASK, #ARGV, 3 do
  local task_id, task_json, traceparent = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  ids[#ids + 1] = redis.call('XADD', tasks_key, '*', BODY, task_json, TRACEPARENT, traceparent)
  redis.call('HSET', ledger_key, task_id, task_json)
  redis.call('SADD', session_tasks_key, task_id)
end
redis.call('SADD', sessions_key, session_id)
redis.call('HINCRBY', session_key, SUBMITTED, #ids)
return ids
