-- JUDGE_APPLY: apply the Judge's decisions on Results of one tenant's session, and ack
-- their entries; each item on its own, in order, as if each were its own call (one call
-- for a batch: a script call per Result cost the Judge more than the rest of its commit).
--
-- Checks: not that the Result's entry is still pending. A Result judged twice (two Judges,
-- or a Judge that reclaimed an entry another had already applied) is caught by the task's
-- state instead, which every action but reject checks in this order:
--   1. the task has not settled and waits for no review;
--   2. its ledger row is still the row the Judge looked up (`expected_row`, as stored):
--      a compare-and-set, so a Result for an attempt the task has moved past, or a second
--      copy of a Result whose retry was already scheduled, changes nothing;
--   3. (approve) no Result is committed under the task id yet (HSETNX).
-- A failed check acks the entry and replies duplicate. Before any of them: a Result of a
-- task an operator cancelled (settled row `cancelled`) is acked and dropped, whatever was
-- decided about it (reply cancelled).
-- Does, besides the ack (XACK and XDEL of the Result's entry), by action:
--   reject   nothing else (not a live task of this tenant: forged, stale or undecodable);
--            replies duplicate when the task id names a settled task of this tenant
--   approve  HSETNX the Result under the task id, mark settled, drop the ledger row, count
--   deny     mark settled, drop the ledger row, count
--   review   park the review item under the task id, count (the ledger row stays)
--   retry    rewrite the ledger row to the next attempt, ZADD it to the delayed set, keep
--            the trace context it continues from (the Judge's span) under the task id in
--            `delayed_traces` (PROMOTE_DUE writes it on the new entry), count
-- In the same step it keeps the audit event of what it did in the tenant's pending-audit
-- hash (`event_*` for the outcome asked for; an empty id keeps nothing): the outcome cannot
-- happen without its record, which the Judge then hands to the sinks (a sweep does it for
-- a Judge that died first). A duplicate's record is derived here, only when one happens,
-- from the outcome's: the same event under `duplicate_id`, of type duplicate, with
-- data.outcome duplicate and no data.next_attempt (the rule of
-- chimera.ports.judge.duplicate_event). Its JSON may be spelt otherwise than Python's
-- (key order, escapes): it is only ever read back as an event, never hashed as stored.
-- Reply: per item, the outcome (committed, denied, review, retried, duplicate, rejected or
-- cancelled).

local results_key = KEYS[1]
local ledger_key = KEYS[2]
local committed_key = KEYS[3]
local settled_key = KEYS[4]
local review_key = KEYS[5]
local delayed_key = KEYS[6]
local delayed_traces_key = KEYS[7]
local session_key = KEYS[8]
local audit_pending_key = KEYS[9]

local group = ARGV[1]
-- ARGV[2..]: per item (entry id, task id, action, expected row, payload, due, event id,
-- event JSON, duplicate id, traceparent).
local FIRST_ITEM = 2
local WIDTH = 10

local APPROVE, DENY, REVIEW, RETRY, REJECT =
  $ACTION_APPROVE, $ACTION_DENY, $ACTION_REVIEW, $ACTION_RETRY, $ACTION_REJECT
local COMMITTED, DENIED, PARKED, RETRIED, DUPLICATE, REJECTED =
  $OUTCOME_COMMITTED, $OUTCOME_DENIED, $OUTCOME_REVIEW, $OUTCOME_RETRIED,
  $OUTCOME_DUPLICATE, $OUTCOME_REJECTED
local CANCELLED, SETTLED_CANCELLED = $OUTCOME_CANCELLED, $SETTLED_CANCELLED
local EVENT_DUPLICATE = $EVENT_DUPLICATE
local SETTLED_COMMITTED, SETTLED_DENIED = $SETTLED_COMMITTED, $SETTLED_DENIED
local COUNT_COMMITTED, COUNT_DENIED, COUNT_REVIEW, COUNT_RETRIED =
  $COUNT_COMMITTED, $COUNT_DENIED, $COUNT_REVIEW, $COUNT_RETRIED

local function apply(entry_id, task_id, action, expected_row, payload, due, event_id, event_json,
                     duplicate_id, traceparent)
  local function report(outcome)
    if outcome == DUPLICATE then
      if duplicate_id ~= '' and event_json ~= '' then
        local copy = cjson.decode(event_json)
        copy.id = duplicate_id
        copy.type = EVENT_DUPLICATE
        copy.data.outcome = DUPLICATE
        copy.data.next_attempt = nil
        redis.call('HSET', audit_pending_key, duplicate_id, cjson.encode(copy))
      end
    elseif event_id ~= '' then
      redis.call('HSET', audit_pending_key, event_id, event_json)
    end
    return outcome
  end

  -- Every Result read is acknowledged, whatever becomes of it.
  redis.call('XACK', results_key, group, entry_id)
  redis.call('XDEL', results_key, entry_id)

  -- (cancel) A cancelled task's Result is dropped: it never commits, whatever was decided.
  -- Nothing is kept pending: the cancellation has its records, the Judge notes the drop.
  if task_id ~= '' and redis.call('HGET', settled_key, task_id) == SETTLED_CANCELLED then
    return CANCELLED
  end

  if action == REJECT then
    if task_id ~= '' and redis.call('HEXISTS', settled_key, task_id) == 1 then
      return report(DUPLICATE)
    end
    return report(REJECTED)
  end

  if redis.call('HEXISTS', settled_key, task_id) == 1
      or redis.call('HEXISTS', review_key, task_id) == 1 then
    return report(DUPLICATE)
  end
  if redis.call('HGET', ledger_key, task_id) ~= expected_row then return report(DUPLICATE) end

  if action == APPROVE then
    if redis.call('HSETNX', committed_key, task_id, payload) == 0 then return report(DUPLICATE) end
    redis.call('HSET', settled_key, task_id, SETTLED_COMMITTED)
    redis.call('HDEL', ledger_key, task_id)
    redis.call('HINCRBY', session_key, COUNT_COMMITTED, 1)
    return report(COMMITTED)
  elseif action == DENY then
    redis.call('HSET', settled_key, task_id, SETTLED_DENIED)
    redis.call('HDEL', ledger_key, task_id)
    redis.call('HINCRBY', session_key, COUNT_DENIED, 1)
    return report(DENIED)
  elseif action == REVIEW then
    redis.call('HSET', review_key, task_id, payload)
    redis.call('HINCRBY', session_key, COUNT_REVIEW, 1)
    return report(PARKED)
  end
  -- RETRY
  redis.call('HSET', ledger_key, task_id, payload)
  redis.call('ZADD', delayed_key, due, payload)
  if traceparent ~= '' then
    redis.call('HSET', delayed_traces_key, task_id, traceparent)
  else
    redis.call('HDEL', delayed_traces_key, task_id)
  end
  redis.call('HINCRBY', session_key, COUNT_RETRIED, 1)
  return report(RETRIED)
end

for i = FIRST_ITEM, #ARGV, WIDTH do
  local action = ARGV[i + 2]
  if action ~= APPROVE and action ~= DENY and action ~= REVIEW and action ~= RETRY
      and action ~= REJECT then
    return redis.error_reply('unknown action ' .. action)
  end
end
local outcomes = {}
for i = FIRST_ITEM, #ARGV, WIDTH do
  outcomes[#outcomes + 1] = apply(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9])
end
return outcomes
