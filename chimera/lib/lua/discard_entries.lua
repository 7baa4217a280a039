-- DISCARD_ENTRIES: acknowledge and delete entries that need nothing else done.
--
-- For stale copies (ADMIT_TASKS said settled, review or stale): the task lives on in its
-- ledger row or has settled, so the copy is only removed.
-- Checks, per entry: it is still pending to the group (XACK returns 1); one that is not
-- was handled by another consumer and is left alone.
-- Does, per entry that passes: XDEL it.
-- Reply: the ids discarded.

local stream_key = KEYS[1]

local group = ARGV[1]
-- ARGV[2..]: the entry ids.
local FIRST_ID = 2

local discarded = {}
for i = FIRST_ID, #ARGV do
  local entry_id = ARGV[i]
  if redis.call('XACK', stream_key, group, entry_id) == 1 then
    redis.call('XDEL', stream_key, entry_id)
    discarded[#discarded + 1] = entry_id
  end
end
return discarded
