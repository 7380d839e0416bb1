-- A started job stopped: free its room, correct its tenant's time with the real usage, and
-- start the next jobs. KEYS[6] the job's usage hash; ARGV[6] member, ARGV[7] tenant,
-- ARGV[8] most jobs to start. Returns the members started, for the caller to publish.
local member, t = ARGV[6], ARGV[7]
redis.call('ZREM', KEYS[1], member)
redis.call('ZREM', running_key(t), member)
local est = tonumber(redis.call('HGET', KEYS[4], member) or '')
redis.call('HDEL', KEYS[4], member)
if est then
  local used = redis.call('HMGET', KEYS[6], 'prompt', 'completion')
  local actual = (tonumber(used[1] or '0') or 0) + (tonumber(used[2] or '0') or 0)
  if actual > 0 then
    local weight = tonumber(redis.call('HGET', KEYS[3], t .. '|w') or '1') or 1
    local delta = (actual - est) / weight
    local own = tonumber(redis.call('HGET', KEYS[3], t .. '|v') or '0') or 0
    redis.call('HSET', KEYS[3], t .. '|v', own + delta)
    local active = redis.call('ZSCORE', KEYS[2], t)
    if active then
      redis.call('ZADD', KEYS[2], tonumber(active) + delta, t)
    end
  end
end
return pick(tonumber(ARGV[8]))
