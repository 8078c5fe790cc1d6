-- Acquire (or re-assert) a slot of a lease pool, atomically.
-- KEYS[1] holders (ZSET holder -> expiry ms), KEYS[2] tokens (HASH holder -> fencing token),
-- KEYS[3] fence (the pool's last fencing token), KEYS[4] epoch (the pool's incarnation),
-- KEYS[5] quarantine (present while only re-asserts are granted)
-- ARGV[1] holder, ARGV[2] ttl ms, ARGV[3] limit, ARGV[4] the caller's known epoch ('' if none),
-- ARGV[5] quarantine ms, ARGV[6] '1' to re-assert a lease the caller held before
-- Returns {code, token, held, epoch}: code 1 granted (a holder that already holds the lease
-- renews it and keeps its token), 0 the pool is full, 2 not now: the pool lost its state
-- (Redis came back empty) and its holders are re-asserting their leases first.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local week = 7 * 86400000

-- A pool Redis does not know: a new incarnation, and a quarantine in which only holders
-- re-asserting the leases they held are granted, so that nobody takes a line in use.
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  epoch = t[1] .. '.' .. t[2]
  redis.call('SET', KEYS[4], epoch)
  if tonumber(ARGV[5]) > 0 then
    redis.call('SET', KEYS[5], '1', 'PX', ARGV[5])
  end
end
redis.call('PEXPIRE', KEYS[4], week)
-- A caller that knew another epoch held leases that are gone: it re-asserts them first.
local stale = ARGV[4] ~= '' and ARGV[4] ~= epoch

-- Reclaim holders that stopped renewing.
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
end

local token = redis.call('HGET', KEYS[2], ARGV[1])
if token then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  return {1, tonumber(token), redis.call('ZCARD', KEYS[1]), epoch}
end

local held = redis.call('ZCARD', KEYS[1])
if ARGV[6] ~= '1' and (stale or redis.call('EXISTS', KEYS[5]) == 1) then
  return {2, 0, held, epoch}
end
if held >= tonumber(ARGV[3]) then
  return {0, 0, held, epoch}
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
return {1, fence, held + 1, epoch}
