-- COUNT_USAGE: add the LLM tokens of published Results to their tenant's day and session.
--
-- Checks nothing: it counts what the Worker has just published (called in the same round
-- trip, right after PUBLISH_RESULTS); the token budgets of a tenant are read from here.
-- Does: HINCRBY the day's field of the usage hash and the session's `tokens` counter.
-- Reply: the day's total after counting.

local usage_key = KEYS[1]
local session_key = KEYS[2]

local day = ARGV[1]
local tokens = ARGV[2]

local TOKENS = $COUNT_TOKENS

redis.call('HINCRBY', session_key, TOKENS, tokens)
return redis.call('HINCRBY', usage_key, day, tokens)
