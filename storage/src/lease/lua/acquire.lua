-- Acquire a slot of a lease pool, atomically.
-- KEYS[1] holders (ZSET holder -> expiry ms), KEYS[2] tokens (HASH holder -> fencing token),
-- KEYS[3] fence (the pool's last fencing token)
-- ARGV[1] holder, ARGV[2] ttl ms, ARGV[3] limit
-- Returns {1, token, held} when granted (a holder that already holds the lease renews it and
-- keeps its token), {0, 0, held} when the pool is full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])

-- Reclaim holders that stopped renewing.
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
end

local token = redis.call('HGET', KEYS[2], ARGV[1])
if token then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  return {1, tonumber(token), redis.call('ZCARD', KEYS[1])}
end

local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[3]) then
  return {0, 0, held}
end

-- Fencing tokens strictly increase, and never fall below Redis's clock in microseconds, so they
-- keep increasing even after a restart that lost the previous value.
local fence = tonumber(redis.call('GET', KEYS[3]) or '0') + 1
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
if fence < now_us then
  fence = now_us
end
redis.call('SET', KEYS[3], string.format('%d', fence))
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', fence))
-- A pool nobody touches for a day disappears.
redis.call('PEXPIRE', KEYS[1], ttl + 86400000)
redis.call('PEXPIRE', KEYS[2], ttl + 86400000)
return {1, fence, held + 1}
