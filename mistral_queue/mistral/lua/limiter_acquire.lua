-- Take one request and an estimated number of tokens from a limit group, atomically for the
-- whole deployment. GCRA (theoretical arrival time per dimension), "pay after": a call may go
-- once neither dimension is in debt and its cost is then added, so a call larger than the
-- per-minute budget still goes (once) and delays the next ones. Times are the Redis server's.
-- KEYS: requests TAT, tokens TAT, the group's pause, the global pause
-- ARGV[1] seconds per request (0: no request limit)
-- ARGV[2] seconds per token (0: no token limit)
-- ARGV[3] estimated tokens of this call
-- ARGV[4] longest wait (seconds) to book: a slot further off is refused, not booked
-- Returns {booked (1 or 0), wait seconds (string), what bound the wait: '', 'paused', 'rps', 'tpm'}
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local per_request = tonumber(ARGV[1])
local per_token = tonumber(ARGV[2])
local allow, reason = now, ''

local pause = math.max(tonumber(redis.call('GET', KEYS[3]) or 0),
                       tonumber(redis.call('GET', KEYS[4]) or 0))
if pause > allow then allow, reason = pause, 'paused' end
local tat_requests = tonumber(redis.call('GET', KEYS[1]) or 0)
if per_request > 0 and tat_requests > allow then allow, reason = tat_requests, 'rps' end
local tat_tokens = tonumber(redis.call('GET', KEYS[2]) or 0)
if per_token > 0 and tat_tokens > allow then allow, reason = tat_tokens, 'tpm' end

local wait = allow - now
if wait > tonumber(ARGV[4]) then
  return {0, string.format('%.6f', wait), reason}
end

-- Book the slot at `allow`: callers told to wait get distinct, spaced slots (no herd).
local function book(key, tat)
  redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
if per_request > 0 then book(KEYS[1], allow + per_request) end
if per_token > 0 then book(KEYS[2], allow + tonumber(ARGV[3]) * per_token) end
return {1, string.format('%.6f', wait), reason}
