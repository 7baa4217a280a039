-- RETENTION_LEASE: extend or give up the lease on sweeping a tenant, if still ours.
--
-- Checks: the lock holds `owner` (a lease that lapsed may have been taken by another).
-- Does: with `ttl_ms` above 0, PEXPIRE the lock to it; with 0, DEL it.
-- Reply: 1 when the lease was ours, else 0.

local retention_lock_key = KEYS[1]

local owner = ARGV[1]
local ttl_ms = ARGV[2]

if redis.call('GET', retention_lock_key) ~= owner then return 0 end
if tonumber(ttl_ms) > 0 then
  redis.call('PEXPIRE', retention_lock_key, ttl_ms)
else
  redis.call('DEL', retention_lock_key)
end
return 1
