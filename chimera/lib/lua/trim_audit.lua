-- TRIM_AUDIT: trim a tenant's audit stream through one record, behind a checkpoint record.
--
-- The caller read the records it trims and hashed the checkpoint record (SHA-256; Redis Lua
-- has none) against the chain head it saw.
-- Checks, in order:
--   1. the chain head is still that one (its sequence number equals `expected_seq`): a
--      compare-and-set, as in AUDIT_APPEND, since writers keep appending;
--   2. the record to trim through (`through_entry`) is still there with `through_seq` and
--      `through_hash`: what the checkpoint vouches for is what is removed;
--   3. no trimmed event waits in the pending-audit hash: the sweep would write it again,
--      and with its id gone from the ids hash it would be stored twice.
-- Does, when all hold: XADD the checkpoint record (seq, prev, hash, event) at the end of the
-- chain and move the head to it, as AUDIT_APPEND does; XTRIM every entry up to and
-- including `through_entry`; HDEL the trimmed records' event ids from the ids hash (so it
-- stays as bounded as the stream); keep `through_seq` and `through_hash` in the checkpoint
-- hash: the oldest record kept links to them.
-- Reply: {1, head seq, head hash} when trimmed; {0, head seq, head hash} when the head had
-- moved; {2, ...} when the record to trim through changed; {3, ...} when an event waits.

local audit_key = KEYS[1]
local audit_head_key = KEYS[2]
local audit_ids_key = KEYS[3]
local audit_pending_key = KEYS[4]
local audit_checkpoint_key = KEYS[5]

local expected_seq = ARGV[1]
local through_entry = ARGV[2]
local through_seq = ARGV[3]
local through_hash = ARGV[4]
local record_seq = ARGV[5]
local record_prev = ARGV[6]
local record_hash = ARGV[7]
local record_id = ARGV[8]
local record_json = ARGV[9]
-- ARGV[10..]: the event ids of the records trimmed.
local FIRST_TRIMMED = 10

local SEQ, PREV, HASH, EVENT = $AUDIT_SEQ, $AUDIT_PREV, $AUDIT_HASH, $AUDIT_EVENT

local head = tonumber(redis.call('HGET', audit_head_key, SEQ) or '0')
local head_hash = redis.call('HGET', audit_head_key, HASH) or ''
if head ~= tonumber(expected_seq) then return {0, head, head_hash} end

local found = redis.call('XRANGE', audit_key, through_entry, through_entry)
if not found[1] then return {2, head, head_hash} end
local stored = {}
local entry_fields = found[1][2]
for i = 1, #entry_fields, 2 do stored[entry_fields[i]] = entry_fields[i + 1] end
if stored[SEQ] ~= through_seq or stored[HASH] ~= through_hash then
  return {2, head, head_hash}
end
for i = FIRST_TRIMMED, #ARGV do
  if redis.call('HEXISTS', audit_pending_key, ARGV[i]) == 1 then return {3, head, head_hash} end
end

redis.call('XADD', audit_key, '*', SEQ, record_seq, PREV, record_prev, HASH, record_hash,
  EVENT, record_json)
redis.call('HSET', audit_ids_key, record_id, record_seq .. ':' .. record_hash)
redis.call('HSET', audit_head_key, SEQ, record_seq, HASH, record_hash)

local dash = string.find(through_entry, '-', 1, true)
local ms = string.sub(through_entry, 1, dash - 1)
local next_seq = tonumber(string.sub(through_entry, dash + 1)) + 1
redis.call('XTRIM', audit_key, 'MINID', ms .. '-' .. string.format('%d', next_seq))
for i = FIRST_TRIMMED, #ARGV do redis.call('HDEL', audit_ids_key, ARGV[i]) end
redis.call('HSET', audit_checkpoint_key, SEQ, through_seq, HASH, through_hash)
return {1, tonumber(record_seq), record_hash}
