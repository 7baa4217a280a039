-- AUDIT_APPEND: append hash-chained records to a tenant's audit stream, each event once.
--
-- Checks, in order:
--   1. the chain head is still the one the records were hashed against (its sequence
--      number equals `expected_seq`): a compare-and-set, so many processes may write one
--      tenant's chain and it stays a single line;
--   2. no record's event id is stored already (the ids hash): an event written twice (a
--      write retried after a lost reply) is named back to the caller, who drops it and
--      re-hashes the rest.
-- The hashes themselves are computed by the caller (SHA-256; Redis Lua has none) and not
-- checked here.
-- Does, when both hold: XADD each record (seq, prev, hash, event) in order, record its id
-- with "seq:hash" as the witness of its hash, and move the head to the last one.
-- Reply: {1, new head seq, new head hash} when appended; {0, head seq, head hash} when the
-- head had moved; {2, head seq, head hash, id...} naming the ids stored already.

local audit_key = KEYS[1]
local audit_head_key = KEYS[2]
local audit_ids_key = KEYS[3]

local expected_seq = ARGV[1]
-- ARGV[2..]: (seq, prev, hash, event id, event JSON) per record.
local FIRST_RECORD = 2
local WIDTH = 5

local SEQ, PREV, HASH, EVENT = $AUDIT_SEQ, $AUDIT_PREV, $AUDIT_HASH, $AUDIT_EVENT

local head = tonumber(redis.call('HGET', audit_head_key, SEQ) or '0')
local head_hash = redis.call('HGET', audit_head_key, HASH) or ''
if head ~= tonumber(expected_seq) then
  return {0, head, head_hash}
end
local stored = {2, head, head_hash}
for i = FIRST_RECORD, #ARGV, WIDTH do
  if redis.call('HEXISTS', audit_ids_key, ARGV[i + 3]) == 1 then
    stored[#stored + 1] = ARGV[i + 3]
  end
end
if #stored > 3 then return stored end
local last_seq, last_hash = head, ''
for i = FIRST_RECORD, #ARGV, WIDTH do
  local seq, prev, hash, id, event = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  redis.call('XADD', audit_key, '*', SEQ, seq, PREV, prev, HASH, hash, EVENT, event)
  redis.call('HSET', audit_ids_key, id, seq .. ':' .. hash)
  last_seq, last_hash = seq, hash
end
redis.call('HSET', audit_head_key, SEQ, last_seq, HASH, last_hash)
return {1, last_seq, last_hash}
