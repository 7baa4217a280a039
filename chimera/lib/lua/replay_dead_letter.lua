-- REPLAY_DEAD_LETTER: put a dead-lettered task back in the task stream.
--
-- Checks, in order:
--   1. the task was not committed after all (a stale copy of it died); such a task is not
--      run again (reply 0, the dead letter stays);
--   2. the dead letter is still there (XDEL returns 1); if not, another operator replayed
--      it first and nothing changes.
-- Does: XADD the task (attempts reset by the caller) as a fresh entry, with the trace
-- context the dead letter's own entry kept (its traceparent field, if any), write its ledger
-- row, clear its settled mark and count one dead letter less in the session.
-- Reply: 1 when replayed, else 0.

local tasks_key = KEYS[1]
local ledger_key = KEYS[2]
local settled_key = KEYS[3]
local dlq_key = KEYS[4]
local session_key = KEYS[5]

local dead_letter_id = ARGV[1]
local task_id = ARGV[2]
local task_json = ARGV[3]

local BODY = $BODY
local TRACEPARENT = $TRACEPARENT
local SETTLED_COMMITTED = $SETTLED_COMMITTED
local DEAD_LETTERED = $COUNT_DEAD_LETTERED

if redis.call('HGET', settled_key, task_id) == SETTLED_COMMITTED then return 0 end
local traceparent = ''
local letter = redis.call('XRANGE', dlq_key, dead_letter_id, dead_letter_id)
if letter[1] then
  local stored = letter[1][2]
  for i = 1, #stored, 2 do
    if stored[i] == TRACEPARENT then traceparent = stored[i + 1] end
  end
end
if redis.call('XDEL', dlq_key, dead_letter_id) == 0 then return 0 end
if traceparent ~= '' then
  redis.call('XADD', tasks_key, '*', BODY, task_json, TRACEPARENT, traceparent)
else
  redis.call('XADD', tasks_key, '*', BODY, task_json)
end
redis.call('HSET', ledger_key, task_id, task_json)
redis.call('HDEL', settled_key, task_id)
redis.call('HINCRBY', session_key, DEAD_LETTERED, -1)
return 1
