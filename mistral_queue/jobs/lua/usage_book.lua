-- Book a finished job's usage into its tenant's day and month, once.
-- KEYS: job hash, job usage hash, tenant reserved hash, day usage hash, month usage hash
-- ARGV[1] job id  ARGV[2] day key TTL s  ARGV[3] month key TTL s  ARGV[4] job usage TTL s
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HSETNX', KEYS[1], '${USAGE_BOOKED}', '1') == 0 then
  return 0
end
local usage = redis.call('HGETALL', KEYS[2])
for n = 1, #usage, 2 do
  redis.call('HINCRBY', KEYS[4], usage[n], usage[n + 1])
  redis.call('HINCRBY', KEYS[5], usage[n], usage[n + 1])
end
redis.call('HINCRBY', KEYS[4], 'jobs', 1)
redis.call('HINCRBY', KEYS[5], 'jobs', 1)
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[5], tonumber(ARGV[3]))
redis.call('HDEL', KEYS[3], ARGV[1] .. '|t', ARGV[1] .. '|n')
local function get(name)
  return redis.call('HGET', KEYS[2], name) or '0'
end
redis.call('HSET', KEYS[1], '${USAGE_PROMPT_TOKENS}', get('prompt'),
  '${USAGE_COMPLETION_TOKENS}', get('completion'),
  '${COST_INPUT_NANO}', get('input_nano'), '${COST_OUTPUT_NANO}', get('output_nano'))
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
return 1
