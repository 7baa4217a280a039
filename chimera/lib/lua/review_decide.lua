-- REVIEW_DECIDE: apply a human's approve or reject to a Result parked for review.
--
-- Checks: the item is still parked (HEXISTS on the review hash); if not, someone else
-- decided first and nothing changes (reply missing). It does not compare the Result it is
-- given with the parked one: a parked item is written once and only ever removed.
-- Does: remove the item and the task's ledger row, count one review less, then
--   approve  HSETNX the given Result under the task id; if one is already committed, stop
--            there (reply duplicate: nothing is counted or marked); else mark settled
--            committed and count it
--   reject   mark settled denied and count it.
-- Reply: committed, denied, duplicate or missing.

local ledger_key = KEYS[1]
local committed_key = KEYS[2]
local settled_key = KEYS[3]
local review_key = KEYS[4]
local session_key = KEYS[5]

local task_id = ARGV[1]
local choice = ARGV[2]
local result_json = ARGV[3]

local APPROVE = $CHOICE_APPROVE
local COMMITTED, DENIED, DUPLICATE, MISSING =
  $REVIEW_COMMITTED, $REVIEW_DENIED, $REVIEW_DUPLICATE, $REVIEW_MISSING
local SETTLED_COMMITTED, SETTLED_DENIED = $SETTLED_COMMITTED, $SETTLED_DENIED
local COUNT_COMMITTED, COUNT_DENIED, COUNT_REVIEW =
  $COUNT_COMMITTED, $COUNT_DENIED, $COUNT_REVIEW

if redis.call('HEXISTS', review_key, task_id) == 0 then return MISSING end
redis.call('HDEL', review_key, task_id)
redis.call('HDEL', ledger_key, task_id)
redis.call('HINCRBY', session_key, COUNT_REVIEW, -1)
if choice == APPROVE then
  if redis.call('HSETNX', committed_key, task_id, result_json) == 0 then return DUPLICATE end
  redis.call('HSET', settled_key, task_id, SETTLED_COMMITTED)
  redis.call('HINCRBY', session_key, COUNT_COMMITTED, 1)
  return COMMITTED
end
redis.call('HSET', settled_key, task_id, SETTLED_DENIED)
redis.call('HINCRBY', session_key, COUNT_DENIED, 1)
return DENIED
