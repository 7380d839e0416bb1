-- Settle one upstream call: add its usage to the job's, and turn its reservation into it.
-- KEYS: job usage hash, tenant reserved hash, metrics hash
-- ARGV[1] model  ARGV[2] prompt tokens  ARGV[3] completion tokens
-- ARGV[4] input nano-USD  ARGV[5] output nano-USD
-- ARGV[6] reserved tokens to give back  ARGV[7] reserved nano-USD to give back
-- ARGV[8] job id  ARGV[9] tenant  ARGV[10] model label (bounded)  ARGV[11] key TTL seconds
local p, c = tonumber(ARGV[2]), tonumber(ARGV[3])
local i, o = tonumber(ARGV[4]), tonumber(ARGV[5])
local m = 'm|' .. ARGV[1] .. '|'
if p + c > 0 then
  redis.call('HINCRBY', KEYS[1], 'prompt', p)
  redis.call('HINCRBY', KEYS[1], 'completion', c)
  redis.call('HINCRBY', KEYS[1], 'input_nano', i)
  redis.call('HINCRBY', KEYS[1], 'output_nano', o)
  redis.call('HINCRBY', KEYS[1], m .. 'prompt', p)
  redis.call('HINCRBY', KEYS[1], m .. 'completion', c)
  redis.call('HINCRBY', KEYS[1], m .. 'nano', i + o)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[11]))
  local labels = 'model=' .. ARGV[10] .. ',tenant=' .. ARGV[9]
  redis.call('HINCRBY', KEYS[3], 'mq_tenant_tokens_total|kind=prompt,' .. labels, p)
  redis.call('HINCRBY', KEYS[3], 'mq_tenant_tokens_total|kind=completion,' .. labels, c)
  if i + o > 0 then
    redis.call('HINCRBYFLOAT', KEYS[3], 'mq_cost_usd_total|' .. labels, (i + o) / 1e9)
  end
end
-- Until the job's usage is booked, its reservation holds what the call really used.
redis.call('HINCRBY', KEYS[2], ARGV[8] .. '|t', p + c - tonumber(ARGV[6]))
redis.call('HINCRBY', KEYS[2], ARGV[8] .. '|n', i + o - tonumber(ARGV[7]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[11]))
return 1
