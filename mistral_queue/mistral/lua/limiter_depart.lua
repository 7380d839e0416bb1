-- A call that waited for its booked slot is about to leave: check the window again against
-- the actual time and record that time instead of the booked one. Calls that were late (a
-- busy host, a slow wake-up) would otherwise crowd the window the server sees.
-- KEYS: requests log, the group's margin
-- ARGV[1] requests per window; ARGV[2] window, seconds; ARGV[3] this call's id
-- ARGV[4] the smallest margin, seconds; ARGV[5] how fast a raised margin decays, s/s
-- Returns seconds to wait before trying again (string), '0' once recorded as sent now.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local margin = tonumber(ARGV[4])
local raised = redis.call('HMGET', KEYS[2], 'margin', 'at')
if raised[1] then
  margin = math.max(margin, tonumber(raised[1]) - (now - tonumber(raised[2])) * tonumber(ARGV[5]))
end
local window = tonumber(ARGV[2]) + margin
local mine = redis.call('ZSCORE', KEYS[1], ARGV[3])
local inside = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.6f', now - window),
                          string.format('%.6f', now), 'WITHSCORES')
local count, oldest = 0, nil
for i = 1, #inside, 2 do
  if inside[i] ~= ARGV[3] then
    count = count + 1
    if oldest == nil then oldest = tonumber(inside[i + 1]) end
  end
end
if count >= tonumber(ARGV[1]) and oldest ~= nil then
  return string.format('%.6f', math.max(0.001, oldest + window - now))
end
if mine == false or tonumber(mine) < now then
  redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[3])
end
return '0'
