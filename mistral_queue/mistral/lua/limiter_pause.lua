-- Pause a limit group (or everything) until now + delay, never shortening a longer pause.
-- KEYS: the pause key
-- ARGV[1] delay, seconds
-- Returns the seconds the pause now lasts (string).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local current = tonumber(redis.call('GET', KEYS[1]) or 0)
local pause_end = now + tonumber(ARGV[1])
if pause_end > current then
  redis.call('SET', KEYS[1], string.format('%.6f', pause_end),
             'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
  current = pause_end
end
return string.format('%.6f', current - now)
