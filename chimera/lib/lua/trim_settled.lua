-- TRIM_SETTLED: one step of trimming a tenant's settled marks older than a time.
--
-- A settled mark says how a task ended; it is not what stops a second commit. That is the
-- ledger row: every settling script drops it in the same step as it marks the task, and
-- every script that could act on a stale copy of a task (JUDGE_APPLY, RETRY_TASK,
-- DEAD_LETTER_TASK, PARK_FOR_REVIEW, DEAD_LETTER_RESULT) refuses a task without one. A
-- copy met after its mark was trimmed is therefore dropped as `unknown` rather than as
-- `settled`, and nothing of it commits (docs/retention.md).
-- Checks, per field of the step: it is a ULID task id (26 characters) that sorts before
-- `before` (the ten-character ULID time prefix of the cutoff), and the task has no ledger
-- row (a dead letter being replayed has one again: its mark is about to go anyway).
-- Does: HSCAN from `cursor` for about `count` fields; HDEL each that passes from the
-- settled hash and its cancellation record from the cancelled hash, unless `dry_run` is 1
-- (then it only counts them).
-- Reply: {next cursor, how many marks were (or would be) removed}; "0" when done.

local ledger_key = KEYS[1]
local settled_key = KEYS[2]
local cancelled_key = KEYS[3]

local cursor = ARGV[1]
local count = ARGV[2]
local before = ARGV[3]
local dry_run = ARGV[4]

local ULID_LENGTH = 26

local step = redis.call('HSCAN', settled_key, cursor, 'COUNT', count)
local found = step[2]
local removed = 0
for i = 1, #found, 2 do
  local id = found[i]
  if #id == ULID_LENGTH and id < before and redis.call('HEXISTS', ledger_key, id) == 0 then
    if dry_run ~= '1' then
      redis.call('HDEL', settled_key, id)
      redis.call('HDEL', cancelled_key, id)
    end
    removed = removed + 1
  end
end
return {step[1], removed}
