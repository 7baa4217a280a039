-- AUDIT_APPEND: append hash-chained records to a tenant's audit stream.
--
-- Checks: the chain head is still the one the records were hashed against (its sequence
-- number equals `expected_seq`): a compare-and-set, so many processes may write one
-- tenant's chain and it stays a single line. The hashes themselves are computed by the
-- caller (SHA-256; Redis Lua has none) and not checked here.
-- Does, when the head matches: XADD each record (seq, prev, hash, event) in order and move
-- the head to the last one.
-- Reply: {1, new head seq, new head hash} when appended; {0, head seq, head hash} (the
-- current head, for the caller to re-hash against) when the head had moved.

local audit_key = KEYS[1]
local audit_head_key = KEYS[2]

local expected_seq = ARGV[1]
-- ARGV[2..]: (seq, prev, hash, event JSON) per record.
local FIRST_RECORD = 2

local SEQ, PREV, HASH, EVENT = $AUDIT_SEQ, $AUDIT_PREV, $AUDIT_HASH, $AUDIT_EVENT

local head = tonumber(redis.call('HGET', audit_head_key, SEQ) or '0')
if head ~= tonumber(expected_seq) then
  return {0, head, redis.call('HGET', audit_head_key, HASH) or ''}
end
local last_seq, last_hash = head, ''
for i = FIRST_RECORD, #ARGV, 4 do
  local seq, prev, hash, event = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('XADD', audit_key, '*', SEQ, seq, PREV, prev, HASH, hash, EVENT, event)
  last_seq, last_hash = seq, hash
end
redis.call('HSET', audit_head_key, SEQ, last_seq, HASH, last_hash)
return {1, last_seq, last_hash}
