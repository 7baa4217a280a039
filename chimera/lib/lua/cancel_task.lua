-- CANCEL_TASK: cancel one task that has not settled; it never runs again and nothing of it
-- is committed.
--
-- Checks, in order:
--   1. the task has not settled: a settled task keeps its outcome (reply `already:<state>`,
--      the settled word: committed, denied, dead_lettered or cancelled);
--   2. the task is live: it has a ledger row or waits for review (else reply `unknown`).
-- Does: ZREM its delayed copy (the ledger row is the delayed member, byte for byte) and the
-- trace context kept for it (`delayed_traces`), drop
-- its ledger row, drop its review item (one review less in the session), mark it settled
-- cancelled, keep who/why/when under its id in the cancelled hash, count one cancelled in
-- the session. A copy waiting in the task stream, or running in a Worker, is left where it
-- is: the Worker's admission drops the entry of a settled task without running it, and
-- JUDGE_APPLY drops a cancelled task's Result (reply cancelled there). When it cancels, it
-- keeps the audit event of the cancellation (`event_*`; an empty id keeps nothing) in the
-- tenant's pending-audit hash in the same step.
-- Reply: `cancelled`, `unknown` or `already:<state>`.

local ledger_key = KEYS[1]
local settled_key = KEYS[2]
local review_key = KEYS[3]
local delayed_key = KEYS[4]
local delayed_traces_key = KEYS[5]
local cancelled_key = KEYS[6]
local session_key = KEYS[7]
local audit_pending_key = KEYS[8]

local task_id = ARGV[1]
local note_json = ARGV[2]
local event_id = ARGV[3]
local event_json = ARGV[4]

local SETTLED_CANCELLED = $SETTLED_CANCELLED
local COUNT_CANCELLED, COUNT_REVIEW = $COUNT_CANCELLED, $COUNT_REVIEW

local settled = redis.call('HGET', settled_key, task_id)
if settled then return 'already:' .. settled end
local row = redis.call('HGET', ledger_key, task_id)
local parked = redis.call('HEXISTS', review_key, task_id) == 1
if not row and not parked then return 'unknown' end
if row then
  redis.call('ZREM', delayed_key, row)
  redis.call('HDEL', delayed_traces_key, task_id)
  redis.call('HDEL', ledger_key, task_id)
end
if parked then
  redis.call('HDEL', review_key, task_id)
  redis.call('HINCRBY', session_key, COUNT_REVIEW, -1)
end
redis.call('HSET', settled_key, task_id, SETTLED_CANCELLED)
redis.call('HSET', cancelled_key, task_id, note_json)
redis.call('HINCRBY', session_key, COUNT_CANCELLED, 1)
if event_id ~= '' then redis.call('HSET', audit_pending_key, event_id, event_json) end
return 'cancelled'
