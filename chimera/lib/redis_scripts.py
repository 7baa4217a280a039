"""Lua scripts that make multi-key steps atomic. Keys come in ``KEYS``; no names are built here.

Each script is exported twice: its source (``NAME_TASK`` etc.) and a :class:`Lua` handle.

Each script first checks that the stream entry is still pending (``XACK`` returns 1) before
doing anything else, so a step that lost a race with another consumer changes nothing.
"""

from __future__ import annotations

from chimera.lib.redis_lua import Lua

#: KEYS: tasks, delayed, ledger, session, settled, review.
#: ARGV: group, entry id, task json, due, task id, counter to increment ('' for none).
#: A stale copy of a task that has meanwhile settled (or waits for review) is dropped.
RETRY_TASK = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('HEXISTS', KEYS[5], ARGV[5]) == 1 or redis.call('HEXISTS', KEYS[6], ARGV[5]) == 1 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[5], ARGV[3])
if ARGV[6] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[6], 1) end
return 1
"""

#: KEYS: tasks, dlq, ledger, settled, session, review.
#: ARGV: group, entry id, dead-letter json, task id.
#: A stale copy of a task that has meanwhile settled (or waits for review) is dropped.
DEAD_LETTER_TASK = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[4] ~= '' and (redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1
    or redis.call('HEXISTS', KEYS[6], ARGV[4]) == 1) then
  return 0
end
redis.call('XADD', KEYS[2], '*', 'body', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HDEL', KEYS[3], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[4], 'dead_lettered')
  redis.call('HINCRBY', KEYS[5], 'dead_lettered', 1)
end
return 1
"""

#: KEYS: tasks.  ARGV: group, entry id, body.  Hands a task back as a fresh entry.
RELEASE_TASK = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[1], '*', 'body', ARGV[3])
return 1
"""

#: KEYS: delayed, tasks.  ARGV: now, limit.  Moves due retries back into the stream.
PROMOTE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, body in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'body', body)
  redis.call('ZREM', KEYS[1], body)
end
return #due
"""

#: KEYS: stream.  ARGV: group, consumer, ids...  Renews only entries this consumer still owns.
RENEW_LEASES = """
local owned = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    owned[#owned + 1] = ARGV[i]
  end
end
return owned
"""

#: KEYS: results, ledger, committed, settled, review, session, delayed.
#: ARGV: group, entry id, task id, action, expected ledger json, payload, due.
#: action: reject | approve | deny | review | retry.  Returns what was done.
JUDGE_APPLY = """
local function ack()
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
local action = ARGV[4]
if action == 'reject' then
  -- Not a live task of this tenant: a late duplicate of a settled one, or a forgery.
  ack()
  if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[3]) == 1 then return 'duplicate' end
  return 'rejected'
end
if redis.call('HEXISTS', KEYS[4], ARGV[3]) == 1 or redis.call('HEXISTS', KEYS[5], ARGV[3]) == 1 then
  ack() return 'duplicate'
end
if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[5] then ack() return 'duplicate' end
if action == 'approve' then
  if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[6]) == 0 then ack() return 'duplicate' end
  redis.call('HSET', KEYS[4], ARGV[3], 'committed')
  redis.call('HDEL', KEYS[2], ARGV[3])
  redis.call('HINCRBY', KEYS[6], 'committed', 1)
  ack() return 'committed'
elseif action == 'deny' then
  redis.call('HSET', KEYS[4], ARGV[3], 'denied')
  redis.call('HDEL', KEYS[2], ARGV[3])
  redis.call('HINCRBY', KEYS[6], 'denied', 1)
  ack() return 'denied'
elseif action == 'review' then
  redis.call('HSET', KEYS[5], ARGV[3], ARGV[6])
  redis.call('HINCRBY', KEYS[6], 'review', 1)
  ack() return 'review'
elseif action == 'retry' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[6])
  redis.call('ZADD', KEYS[7], ARGV[7], ARGV[6])
  redis.call('HINCRBY', KEYS[6], 'retried', 1)
  ack() return 'retried'
end
return redis.error_reply('unknown action ' .. action)
"""

#: KEYS: review, ledger, committed, settled, session.
#: ARGV: task id, approve|reject, result json.  A human's decision on a parked Result.
REVIEW_DECIDE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'missing' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[5], 'review', -1)
if ARGV[2] == 'approve' then
  if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[3]) == 0 then return 'duplicate' end
  redis.call('HSET', KEYS[4], ARGV[1], 'committed')
  redis.call('HINCRBY', KEYS[5], 'committed', 1)
  return 'committed'
end
redis.call('HSET', KEYS[4], ARGV[1], 'denied')
redis.call('HINCRBY', KEYS[5], 'denied', 1)
return 'denied'
"""

#: KEYS: audit stream, audit head.  ARGV: expected seq, then (seq, prev, hash, event) * n.
#: Appends only if the chain head is still the one the records were hashed against.
AUDIT_APPEND = """
local head = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
if head ~= tonumber(ARGV[1]) then
  return {0, head, redis.call('HGET', KEYS[2], 'hash') or ''}
end
local last_seq, last_hash = head, ''
for i = 2, #ARGV, 4 do
  redis.call('XADD', KEYS[1], '*', 'seq', ARGV[i], 'prev', ARGV[i + 1], 'hash', ARGV[i + 2],
             'event', ARGV[i + 3])
  last_seq, last_hash = ARGV[i], ARGV[i + 2]
end
redis.call('HSET', KEYS[2], 'seq', last_seq, 'hash', last_hash)
return {1, last_seq, last_hash}
"""

#: KEYS: dlq, tasks, ledger, settled, session.  ARGV: dlq entry id, task json, task id.
#: Puts a dead-lettered task back in the stream with its attempts reset; a task that was
#: committed after all (a stale copy died) is not run again.
REPLAY_DEAD_LETTER = """
if redis.call('HGET', KEYS[4], ARGV[3]) == 'committed' then return 0 end
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'body', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[3])
redis.call('HINCRBY', KEYS[5], 'dead_lettered', -1)
return 1
"""

#: KEYS: tasks, ledger, sessions set, session hash.
#: ARGV: session id, then (task id, body, traceparent) per task.
#: Adds one session's batch: stream entries, ledger rows and the counter, atomically and in
#: one command (cheaper for the client to pack than a pipeline of one XADD per task).
ENQUEUE_TASKS = """
local ids = {}
local n = 0
for i = 2, #ARGV, 3 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'body', ARGV[i + 1], 'traceparent', ARGV[i + 2])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  n = n + 1
end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'submitted', n)
return ids
"""

#: KEYS: results, tasks.  ARGV: group, count n, n result bodies, then the n entry ids.
#: Publishes a tenant's Results and acks their tasks in one atomic step. A Result whose
#: entry is no longer pending to this group (acked by a consumer that took it over) is not
#: published: its task has an answer coming, or has one already.
PUBLISH_RESULTS = """
local n = tonumber(ARGV[2])
local published = 0
for i = 1, n do
  local id = ARGV[n + 2 + i]
  if redis.call('XACK', KEYS[2], ARGV[1], id) == 1 then
    redis.call('XADD', KEYS[1], '*', 'body', ARGV[2 + i])
    redis.call('XDEL', KEYS[2], id)
    published = published + 1
  end
end
return published
"""


RETRY = Lua(RETRY_TASK)
DEAD_LETTER = Lua(DEAD_LETTER_TASK)
RELEASE = Lua(RELEASE_TASK)
PROMOTE = Lua(PROMOTE_DUE)
RENEW = Lua(RENEW_LEASES)
APPLY = Lua(JUDGE_APPLY)
ENQUEUE = Lua(ENQUEUE_TASKS)
PUBLISH = Lua(PUBLISH_RESULTS)
