-- PUBLISH_RESULTS: publish a tenant's Results and ack the task entries they answer.
--
-- Checks, per entry: the task entry is still pending to the group (XACK returns 1). One
-- that is not (a consumer that took it over acked it first) gets no Result from here: its
-- task has an answer coming, or has one already.
-- Does, per entry that passes: XADD the Result to the result stream (with the trace context
-- of the Worker's attempt, when it traced one, so the Judge continues the task's trace),
-- XDEL the task entry.
-- All entries of one call are handled atomically.
-- Reply: how many Results were published.

local tasks_key = KEYS[1]
local results_key = KEYS[2]

local group = ARGV[1]
-- ARGV[2..]: (task entry id, Result JSON, traceparent or '') per Result.
local FIRST_RESULT = 2

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT

local published = 0
for i = FIRST_RESULT, #ARGV, 3 do
  local entry_id, result_json, traceparent = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('XACK', tasks_key, group, entry_id) == 1 then
    if traceparent ~= '' then
      redis.call('XADD', results_key, '*', BODY, result_json, TRACEPARENT, traceparent)
    else
      redis.call('XADD', results_key, '*', BODY, result_json)
    end
    redis.call('XDEL', tasks_key, entry_id)
    published = published + 1
  end
end
return published
