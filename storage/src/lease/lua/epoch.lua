-- The incarnation of a lease pool, created (with a quarantine) when Redis does not know it.
-- KEYS[1] holders, KEYS[2] tokens, KEYS[3] fence, KEYS[4] epoch, KEYS[5] quarantine
-- ARGV[1] quarantine ms. Returns the epoch.
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. '.' .. t[2]
  redis.call('SET', KEYS[4], epoch)
  if tonumber(ARGV[1]) > 0 then
    redis.call('SET', KEYS[5], '1', 'PX', ARGV[1])
  end
end
redis.call('PEXPIRE', KEYS[4], 7 * 86400000)
return epoch
