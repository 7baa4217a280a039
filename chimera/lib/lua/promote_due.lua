-- PROMOTE_DUE: move delayed tasks whose time has come back into the task stream.
--
-- Checks: only the due time (score <= now). It touches no stream entry, so there is no
-- pending check, and it does not look at the ledger or the settled hash: a promoted copy
-- of a task that settled meanwhile is dropped later, by the Worker's RETRY_TASK or
-- DEAD_LETTER_TASK or by the Judge's ledger comparison in JUDGE_APPLY.
-- Does: for at most `limit` due members, oldest due first, XADD the task JSON as a fresh
-- entry, with the trace context kept for it under its task id (`delayed_traces`, then
-- removed), and ZREM it; the read and the removal are one atomic step, so two Workers
-- promoting at once never promote the same member twice. The task id is read off the
-- member's start: a Task's JSON begins with its id (`{"id":"<ULID>",…`).
-- Reply: how many tasks were moved.

local tasks_key = KEYS[1]
local delayed_key = KEYS[2]
local delayed_traces_key = KEYS[3]

local now = ARGV[1]
local limit = ARGV[2]

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT

local due = redis.call('ZRANGEBYSCORE', delayed_key, '-inf', now, 'LIMIT', 0, limit)
for _, task_json in ipairs(due) do
  local task_id = string.match(task_json, '^{"id":"([^"]+)"')
  local traceparent = task_id and redis.call('HGET', delayed_traces_key, task_id)
  if traceparent then
    redis.call('XADD', tasks_key, '*', BODY, task_json, TRACEPARENT, traceparent)
    redis.call('HDEL', delayed_traces_key, task_id)
  else
    redis.call('XADD', tasks_key, '*', BODY, task_json)
  end
  redis.call('ZREM', delayed_key, task_json)
end
return #due
