-- Acquire one holder's lease in several pools at once, all or none, atomically: one round trip
-- for a dial's campaign and engine leases, and never a lease taken in one pool only to be given
-- back because the other was full. Only where every key is in one keyspace (not Redis Cluster:
-- each pool's keys share a hash tag of their own).
-- KEYS: five per pool, as acquire.lua's (holders, tokens, fence, epoch, quarantine).
-- ARGV[1] holder, ARGV[2] ttl ms, ARGV[3] quarantine ms, then two per pool: its limit and the
-- caller's known epoch ('' if none).
-- Returns {code, token, held, epoch of each pool...}: code 1 granted in every pool (token: the
-- last pool's fencing token; a pool the holder already held renews it and keeps its token);
-- 2 some pool lost its state and grants only re-asserts now, or its epoch changed under the
-- caller; 0 some pool is full (held: its holders). Nothing is granted unless all is.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = ARGV[1]
local ttl = tonumber(ARGV[2])
local week = 7 * 86400000
local pools = #KEYS / 5

local epochs = {}
local tokens = {}
local code = 1
local full = 0
for i = 0, pools - 1 do
  local k = i * 5
  local epoch = redis.call('GET', KEYS[k + 4])
  if not epoch then
    epoch = t[1] .. '.' .. t[2]
    redis.call('SET', KEYS[k + 4], epoch)
    if tonumber(ARGV[3]) > 0 then
      redis.call('SET', KEYS[k + 5], '1', 'PX', ARGV[3])
    end
  end
  redis.call('PEXPIRE', KEYS[k + 4], week)
  epochs[i + 1] = epoch
  local known = ARGV[5 + 2 * i]
  local stale = known ~= '' and known ~= epoch

  local expired = redis.call('ZRANGEBYSCORE', KEYS[k + 1], '-inf', now)
  if #expired > 0 then
    redis.call('ZREM', KEYS[k + 1], unpack(expired))
    redis.call('HDEL', KEYS[k + 2], unpack(expired))
  end

  local token = redis.call('HGET', KEYS[k + 2], holder)
  tokens[i + 1] = token or false
  if not token then
    local held = redis.call('ZCARD', KEYS[k + 1])
    if stale or redis.call('EXISTS', KEYS[k + 5]) == 1 then
      code = 2
    elseif held >= tonumber(ARGV[4 + 2 * i]) and code == 1 then
      code = 0
      full = held
    end
  end
end
if code ~= 1 then
  return {code, 0, full, unpack(epochs)}
end

local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = 0
for i = 0, pools - 1 do
  local k = i * 5
  local token = tokens[i + 1]
  redis.call('ZADD', KEYS[k + 1], now + ttl, holder)
  if token then
    last = tonumber(token)
  else
    -- Fencing tokens strictly increase and never fall below Redis's clock in microseconds.
    local fence = tonumber(redis.call('GET', KEYS[k + 3]) or '0') + 1
    if fence < now_us then
      fence = now_us
    end
    redis.call('SET', KEYS[k + 3], string.format('%d', fence))
    redis.call('HSET', KEYS[k + 2], holder, string.format('%d', fence))
    last = fence
  end
  redis.call('PEXPIRE', KEYS[k + 1], ttl + 86400000)
  redis.call('PEXPIRE', KEYS[k + 2], ttl + 86400000)
end
return {1, last, 0, unpack(epochs)}
