-- REVIEW_RETRY: send a task parked for review back to the task stream: another attempt with
-- a reviewer's feedback (`chimera review reject --retry`), or the same attempt going on
-- with a reviewer's answer to its sensitive tool calls (`count_retry` 0: not a retry).
--
-- Checks: the item is still parked (HEXISTS on the review hash); if not, someone else
-- decided first and nothing changes (reply missing). The attempt limit is the caller's
-- check: the next attempt's JSON is only built when one is left.
-- Does: remove the review item (one review less in the session), rewrite the ledger row to
-- the task as sent back (the Judge compares its Result against that row), XADD it to the
-- task stream so a Worker takes it at once, count one retry (unless told not to); keep the
-- audit event of the retry (`event_*`; an empty id keeps nothing) in the tenant's
-- pending-audit hash in the same step.
-- Reply: retried or missing.

local tasks_key = KEYS[1]
local ledger_key = KEYS[2]
local review_key = KEYS[3]
local session_key = KEYS[4]
local audit_pending_key = KEYS[5]

local task_id = ARGV[1]
local next_json = ARGV[2]
local event_id = ARGV[3]
local event_json = ARGV[4]
local count_retry = ARGV[5]

local BODY = $BODY
local RETRIED, MISSING = $OUTCOME_RETRIED, $REVIEW_MISSING
local COUNT_REVIEW, COUNT_RETRIED = $COUNT_REVIEW, $COUNT_RETRIED

if redis.call('HEXISTS', review_key, task_id) == 0 then return MISSING end
redis.call('HDEL', review_key, task_id)
redis.call('HINCRBY', session_key, COUNT_REVIEW, -1)
redis.call('HSET', ledger_key, task_id, next_json)
redis.call('XADD', tasks_key, '*', BODY, next_json)
if count_retry ~= '0' then redis.call('HINCRBY', session_key, COUNT_RETRIED, 1) end
if event_id ~= '' then redis.call('HSET', audit_pending_key, event_id, event_json) end
return RETRIED
