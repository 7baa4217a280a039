-- TRIM_SESSION: forget one finished session of a tenant.
--
-- Checks, atomically (new tasks may be submitted into a session at any time): the session
-- is finished: its stored state is running (or absent: the queue counts tasks into a
-- session nobody opened), it has had tasks, every one of them committed, was denied,
-- dead-lettered or cancelled, and none waits for review.
-- Does, when it is finished and `dry_run` is not 1: DEL the session hash and its task set
-- and SREM it from the tenant's sessions.
-- Reply: 1 when the session is (or would be) forgotten, else 0.

local session_key = KEYS[1]
local sessions_key = KEYS[2]
local session_tasks_key = KEYS[3]

local session_id = ARGV[1]
local dry_run = ARGV[2]

local STATE, RUNNING = $SESSION_STATE, $SESSION_RUNNING
local SUBMITTED, COMMITTED, DENIED, DEAD_LETTERED, CANCELLED, REVIEW =
  $COUNT_SUBMITTED, $COUNT_COMMITTED, $COUNT_DENIED, $COUNT_DEAD_LETTERED,
  $COUNT_CANCELLED, $COUNT_REVIEW

local stored = redis.call('HMGET', session_key, STATE, SUBMITTED, COMMITTED, DENIED,
  DEAD_LETTERED, CANCELLED, REVIEW)
local state = stored[1] or RUNNING
local function number(i) return tonumber(stored[i] or '0') or 0 end
local submitted = number(2)
local ended = number(3) + number(4) + number(5) + number(6)
if state ~= RUNNING or submitted <= 0 or ended < submitted or number(7) > 0 then
  return 0
end
if dry_run ~= '1' then
  redis.call('DEL', session_key, session_tasks_key)
  redis.call('SREM', sessions_key, session_id)
end
return 1
