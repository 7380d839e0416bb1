-- Take one request and an estimated number of tokens from a limit group, atomically for the
-- whole deployment, on the Redis server's clock.
-- Requests: a sliding log, the server's own model ("at most N requests in any window"): a
-- sorted set of send times (booked, then replaced by the actual one, limiter_depart.lua). A
-- slot is free at t when fewer than N entries lie in (t - window, t]; window = the limit's
-- window plus an adaptive margin for the delay between leaving and arriving
-- (raised by limiter_pause.lua after a 429). Calls are also paced window/N apart (see
-- below). So the limit is used in full but for the margin, with no fixed headroom.
-- Tokens: GCRA "pay after" (a theoretical arrival time): a call may go once the dimension is
-- not in debt and its cost is then added, so a call larger than the per-minute budget still
-- goes (once) and delays the next ones.
-- KEYS: requests log, tokens TAT, the group's pause, the global pause, the group's margin,
--       the latest booked request slot
-- ARGV[1] requests per window (0: no request limit)
-- ARGV[2] window, seconds (before the margin)
-- ARGV[3] seconds per token (0: no token limit)
-- ARGV[4] estimated tokens of this call
-- ARGV[5] longest wait (seconds) to book: a slot further off is refused, not booked
-- ARGV[6] a unique id of this call (the log's member)
-- ARGV[7] the smallest margin, seconds; ARGV[8] how fast a raised margin decays, s/s
-- Returns {booked (1 or 0), wait seconds (string), what bound the wait: '', 'paused', 'rps', 'tpm'}
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local per_window = tonumber(ARGV[1])
local per_token = tonumber(ARGV[3])
local allow, reason = now, ''

local pause = math.max(tonumber(redis.call('GET', KEYS[3]) or 0),
                       tonumber(redis.call('GET', KEYS[4]) or 0))
if pause > allow then allow, reason = pause, 'paused' end
local tat_tokens = tonumber(redis.call('GET', KEYS[2]) or 0)
if per_token > 0 and tat_tokens > allow then allow, reason = tat_tokens, 'tpm' end

local window = 0
if per_window > 0 then
  local margin = tonumber(ARGV[7])
  local raised = redis.call('HMGET', KEYS[5], 'margin', 'at')
  if raised[1] then
    margin = math.max(margin, tonumber(raised[1]) - (now - tonumber(raised[2])) * tonumber(ARGV[8]))
  end
  window = tonumber(ARGV[2]) + margin
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - 1)
  -- Paced window/N after the latest booked slot (KEYS[6]): a burst of N sent at once
  -- reaches the server spread out by its own queueing, and the next burst would then find
  -- the window full. Booked, not sent: one late sender must not delay all the later ones.
  local paced = tonumber(redis.call('GET', KEYS[6]) or 0) + window / per_window
  if paced > allow then allow, reason = paced, 'rps' end
  -- The Nth latest entry: a slot one window after it has fewer than N entries before it.
  local nth = redis.call('ZREVRANGE', KEYS[1], per_window - 1, per_window - 1, 'WITHSCORES')
  if nth[2] then
    local free = tonumber(nth[2]) + window
    if free > allow then allow, reason = free, 'rps' end
  end
end

local wait = allow - now
if wait > tonumber(ARGV[5]) then
  return {0, string.format('%.6f', wait), reason}
end

if per_window > 0 then
  redis.call('ZADD', KEYS[1], string.format('%.6f', allow), ARGV[6])
  local ttl = math.ceil((allow - now + window) * 1000) + 2000
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('SET', KEYS[6], string.format('%.6f', allow), 'PX', ttl)
end
if per_token > 0 then
  local tat = allow + tonumber(ARGV[4]) * per_token
  redis.call('SET', KEYS[2], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
return {1, string.format('%.6f', wait), reason}
