-- ADMIT_TASKS: say, for task entries of one tenant's session just read, whether to run them.
--
-- A Worker asks before it runs anything (a run costs tokens). A genuine entry's body is
-- its task's ledger row byte for byte: every script that adds a task entry (enqueue,
-- promote, replay, hand-back) writes the same JSON to both.
-- Checks, per entry, in order:
--   1. the task has a ledger row: if not, `settled` when it has settled (a stale copy),
--      else `unknown` (forged, another tenant's, never submitted);
--   2. it waits for no review: else `review` (a stale copy);
--   3. the row is the entry's body: else `stale` (a copy of another attempt, or a body
--      edited under a live task's id);
--   4. the session is not halted: else `halted`.
-- Does nothing; reads only.
-- Reply: one of run, halted, unknown, settled, review, stale per entry, in argument order.

local ledger_key = KEYS[1]
local settled_key = KEYS[2]
local review_key = KEYS[3]
local session_key = KEYS[4]

-- ARGV[1..]: (task id, entry body) per entry.
local FIRST_ENTRY = 1

local STATE, HALTED = $SESSION_STATE, $SESSION_HALTED
local RUN, WAIT_HALTED, UNKNOWN, SETTLED, REVIEW, STALE =
  $ADMIT_RUN, $ADMIT_HALTED, $ADMIT_UNKNOWN, $ADMIT_SETTLED, $ADMIT_REVIEW, $ADMIT_STALE

local halted = redis.call('HGET', session_key, STATE) == HALTED
local replies = {}
for i = FIRST_ENTRY, #ARGV, 2 do
  local task_id, body = ARGV[i], ARGV[i + 1]
  local row = redis.call('HGET', ledger_key, task_id)
  local reply = RUN
  if not row then
    if redis.call('HEXISTS', settled_key, task_id) == 1 then reply = SETTLED
    else reply = UNKNOWN end
  elseif redis.call('HEXISTS', review_key, task_id) == 1 then
    reply = REVIEW
  elseif row ~= body then
    reply = STALE
  elseif halted then
    reply = WAIT_HALTED
  end
  replies[#replies + 1] = reply
end
return replies
