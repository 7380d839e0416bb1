-- A job's message reached a worker: run it now, or keep it in its tenant's ready queue.
-- ARGV[6] member ('<type>:<job id>'), ARGV[7] tenant, ARGV[8] queue score (lower first),
-- ARGV[9] estimated tokens, ARGV[10] tenant weight, ARGV[11] tenant cap (0: none),
-- ARGV[12] most jobs to start. Returns the members started (the arriving one among them
-- when it may run, and others for the caller to publish).
local member, t = ARGV[6], ARGV[7]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], member) then
  -- Started already (a woken job, or a redelivery): renew its claim.
  start(t, member)
  return {member}
end
redis.call('HSET', KEYS[3], t .. '|w', ARGV[10], t .. '|c', ARGV[11])
redis.call('HSETNX', KEYS[4], member, ARGV[9])
redis.call('ZADD', ready_key(t), 'NX', tonumber(ARGV[8]), member)
if not redis.call('ZSCORE', KEYS[2], t) then
  -- A tenant coming back from idle starts at the clock: no credit banked while idle.
  local own = tonumber(redis.call('HGET', KEYS[3], t .. '|v') or '0') or 0
  local clock = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
  redis.call('ZADD', KEYS[2], math.max(own, clock), t)
end
return pick(tonumber(ARGV[12]))
