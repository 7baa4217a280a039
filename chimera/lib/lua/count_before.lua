-- COUNT_BEFORE: count the entries of a stream whose ids are below `before`.
--
-- For `chimera gc --dry-run`: what an XTRIM MINID would remove, without sending the
-- entries back.
-- Checks nothing. Does nothing: reads only, a page at a time.
-- Reply: the count.

local stream_key = KEYS[1]

local before = ARGV[1]

local PAGE = 1000

local total, start = 0, '-'
while true do
  local page = redis.call('XRANGE', stream_key, start, '(' .. before, 'COUNT', PAGE)
  total = total + #page
  if #page < PAGE then return total end
  start = '(' .. page[#page][1]
end
