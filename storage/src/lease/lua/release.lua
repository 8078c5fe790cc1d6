-- Give a lease back. KEYS[1] holders, KEYS[2] tokens; ARGV[1] holder.
-- Returns 1 when the holder held it.
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
