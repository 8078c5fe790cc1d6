-- Give several holders' leases back. KEYS[1] holders, KEYS[2] tokens; ARGV the holders.
-- Returns, for each holder in order, 1 when it held its lease.
local released = {}
for i, holder in ipairs(ARGV) do
  redis.call('HDEL', KEYS[2], holder)
  released[i] = redis.call('ZREM', KEYS[1], holder)
end
return released
