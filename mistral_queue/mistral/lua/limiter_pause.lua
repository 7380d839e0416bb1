-- After a 429: pause a limit group (or everything) for the least time that works.
-- When the group's request log holds a full window, the 429 is ours: the server counted one
-- more than we did, because calls arrived closer together than they left. Then only the
-- window's oldest entry has to leave the server's window (not a whole Retry-After), and the
-- margin doubles (the group's margin hash: margin, at) so later windows are wider. Else
-- (tokens, or other clients of the same key) the pause is the delay asked for.
-- Never shortens a longer pause in force.
-- KEYS: the pause key, the group's requests log, the group's margin
-- ARGV[1] delay, seconds (Retry-After or a default)
-- ARGV[2] requests per window (0: none); ARGV[3] window, seconds
-- ARGV[4] the smallest margin; ARGV[5] the largest; ARGV[6] decay, s/s
-- Returns the seconds the pause now lasts (string).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local delay = tonumber(ARGV[1])
local per_window = tonumber(ARGV[2])
if per_window > 0 then
  local margin = tonumber(ARGV[4])
  local raised = redis.call('HMGET', KEYS[3], 'margin', 'at')
  if raised[1] then
    margin = math.max(margin, tonumber(raised[1]) - (now - tonumber(raised[2])) * tonumber(ARGV[6]))
  end
  local window = tonumber(ARGV[3]) + margin
  local inside = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%.6f', now - window),
                            string.format('%.6f', now), 'WITHSCORES', 'LIMIT', 0, 1)
  local count = redis.call('ZCOUNT', KEYS[2], '(' .. string.format('%.6f', now - window),
                           string.format('%.6f', now))
  if count >= per_window and inside[2] then
    local wider = math.min(tonumber(ARGV[5]), margin * 2)
    redis.call('HSET', KEYS[3], 'margin', string.format('%.6f', wider), 'at', string.format('%.6f', now))
    redis.call('PEXPIRE', KEYS[3], math.ceil(wider / tonumber(ARGV[6]) * 1000) + 1000)
    delay = math.min(delay, math.max(0, tonumber(inside[2]) + tonumber(ARGV[3]) + wider - now))
  end
end
local current = tonumber(redis.call('GET', KEYS[1]) or 0)
local pause_end = now + delay
if pause_end > current and delay > 0 then
  redis.call('SET', KEYS[1], string.format('%.6f', pause_end), 'PX', math.ceil(delay * 1000) + 1000)
  current = pause_end
end
return string.format('%.6f', math.max(0, current - now))
