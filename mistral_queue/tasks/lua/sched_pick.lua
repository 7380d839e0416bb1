-- Shared by sched_arrive.lua and sched_release.lua (prepended): start jobs while there is room.
-- Start-time fair queuing over the tenants with ready jobs: the tenant with the smallest
-- virtual time goes next; starting a job advances its tenant's time by cost / weight.
-- KEYS[1] running (zset member -> claim lapses at), KEYS[2] active tenants (zset tenant ->
-- virtual time), KEYS[3] tenant conf (hash '<t>|w' weight, '<t>|c' cap), KEYS[4] job costs
-- (hash member -> estimated tokens), KEYS[5] clock (string: start tag of the last job started).
-- ARGV[1], ARGV[2]: the names of a tenant's ready and running sets with '{t}' for the
-- tenant (from jobs/keys.py): which tenants are waiting is data, known only here.
-- ARGV[3] now, ARGV[4] when a claim made now lapses, ARGV[5] deployment cap (0: none).
local now = tonumber(ARGV[3])
local lapse = tonumber(ARGV[4])
local global_cap = tonumber(ARGV[5])

local function named(template, t)
  return (string.gsub(template, '{t}', function() return t end))
end
local function ready_key(t) return named(ARGV[1], t) end
local function running_key(t) return named(ARGV[2], t) end

local function has_room(t)
  local cap = tonumber(redis.call('HGET', KEYS[3], t .. '|c') or '0') or 0
  if cap <= 0 then return true end
  redis.call('ZREMRANGEBYSCORE', running_key(t), '-inf', now)
  return redis.call('ZCARD', running_key(t)) < cap
end

local function start(t, member)
  redis.call('ZADD', KEYS[1], lapse, member)
  redis.call('ZADD', running_key(t), lapse, member)
  redis.call('PEXPIRE', running_key(t), math.floor((lapse - now) * 2000) + 1000)
end

local function pick(limit)
  local started = {}
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  while #started < limit and (global_cap <= 0 or redis.call('ZCARD', KEYS[1]) < global_cap) do
    local chosen = nil
    for _, t in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      if has_room(t) then chosen = t break end
    end
    if not chosen then break end
    local head = redis.call('ZPOPMIN', ready_key(chosen))
    if head[1] then
      local member = head[1]
      local cost = tonumber(redis.call('HGET', KEYS[4], member) or '1') or 1
      local weight = tonumber(redis.call('HGET', KEYS[3], chosen .. '|w') or '1') or 1
      local tag = tonumber(redis.call('ZSCORE', KEYS[2], chosen))
      redis.call('SET', KEYS[5], tag)
      local after = tag + cost / weight
      redis.call('HSET', KEYS[3], chosen .. '|v', after)
      start(chosen, member)
      started[#started + 1] = member
      if redis.call('ZCARD', ready_key(chosen)) > 0 then
        redis.call('ZADD', KEYS[2], after, chosen)
      else
        redis.call('ZREM', KEYS[2], chosen)
      end
    else
      redis.call('ZREM', KEYS[2], chosen)
    end
  end
  return started
end
