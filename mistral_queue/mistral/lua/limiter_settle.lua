-- Correct a group's token TAT once a call's real usage is known.
-- KEYS: tokens TAT
-- ARGV[1] real tokens minus the estimate (may be negative: tokens given back)
-- ARGV[2] seconds per token
-- Returns the seconds the tokens dimension is now in debt (string, <= 0 when free).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local shift = tonumber(ARGV[1]) * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
local new
if shift > 0 then new = math.max(tat, now) + shift else new = tat + shift end
if new > now then
  redis.call('SET', KEYS[1], string.format('%.6f', new), 'PX', math.ceil((new - now) * 1000) + 1000)
else
  redis.call('DEL', KEYS[1])
end
return string.format('%.6f', new - now)
