-- TRIM_COMMITTED: one step of trimming a tenant's committed Results older than a time.
--
-- Checks, per field of the step: it is a ULID task id (26 characters) that sorts before
-- `before` (the ten-character ULID time prefix of the cutoff: ULIDs sort by time as text),
-- and the task has no ledger row (it is not live; a committed task never has one, so this
-- only guards against a hand edit).
-- Does: HSCAN from `cursor` for about `count` fields; HDEL each that passes, unless
-- `dry_run` is 1 (then it only counts them).
-- Reply: {next cursor, how many were (or would be) removed}; the cursor is "0" when done.

local ledger_key = KEYS[1]
local committed_key = KEYS[2]

local cursor = ARGV[1]
local count = ARGV[2]
local before = ARGV[3]
local dry_run = ARGV[4]

local ULID_LENGTH = 26

local step = redis.call('HSCAN', committed_key, cursor, 'COUNT', count)
local found = step[2]
local removed = 0
for i = 1, #found, 2 do
  local id = found[i]
  if #id == ULID_LENGTH and id < before and redis.call('HEXISTS', ledger_key, id) == 0 then
    if dry_run ~= '1' then redis.call('HDEL', committed_key, id) end
    removed = removed + 1
  end
end
return {step[1], removed}
