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
-- It keeps the audit event of the outcome in the tenant's pending-audit hash in the same
-- step (`event_*` for committed or denied, `duplicate_*` for a duplicate).
-- Reply: committed, denied, duplicate or missing.

local ledger_key = KEYS[1]
local committed_key = KEYS[2]
local settled_key = KEYS[3]
local review_key = KEYS[4]
local session_key = KEYS[5]
local audit_pending_key = KEYS[6]

local task_id = ARGV[1]
local choice = ARGV[2]
local result_json = ARGV[3]
local event_id = ARGV[4]
local event_json = ARGV[5]
local duplicate_id = ARGV[6]
local duplicate_json = ARGV[7]

local APPROVE = $CHOICE_APPROVE
local COMMITTED, DENIED, DUPLICATE, MISSING =
  $REVIEW_COMMITTED, $REVIEW_DENIED, $REVIEW_DUPLICATE, $REVIEW_MISSING
local SETTLED_COMMITTED, SETTLED_DENIED = $SETTLED_COMMITTED, $SETTLED_DENIED
local COUNT_COMMITTED, COUNT_DENIED, COUNT_REVIEW =
  $COUNT_COMMITTED, $COUNT_DENIED, $COUNT_REVIEW

local function report(outcome, id, json)
  if id ~= '' then redis.call('HSET', audit_pending_key, id, json) end
  return outcome
end

if redis.call('HEXISTS', review_key, task_id) == 0 then return MISSING end
redis.call('HDEL', review_key, task_id)
redis.call('HDEL', ledger_key, task_id)
redis.call('HINCRBY', session_key, COUNT_REVIEW, -1)
if choice == APPROVE then
  if redis.call('HSETNX', committed_key, task_id, result_json) == 0 then
    return report(DUPLICATE, duplicate_id, duplicate_json)
  end
  redis.call('HSET', settled_key, task_id, SETTLED_COMMITTED)
  redis.call('HINCRBY', session_key, COUNT_COMMITTED, 1)
  return report(COMMITTED, event_id, event_json)
end
redis.call('HSET', settled_key, task_id, SETTLED_DENIED)
redis.call('HINCRBY', session_key, COUNT_DENIED, 1)
return report(DENIED, event_id, event_json)
