-- Change a job atomically: check its status, set fields, append one event, keep the indexes.
-- KEYS: job hash, job events, tenant events, jobs watch, callbacks due, metrics
-- Job hash field names are placeholders (dollar, braces, the constant's name) that
-- jobs/store.py fills from jobs/keys.py when it loads the script.
-- ARGV[1]  allowed current statuses, comma separated, or '*'
-- ARGV[2]  new status, or '' to keep it
-- ARGV[3]  event type, or '' for no event; a leading '?' appends it only if the status changes
-- ARGV[4]  event data (JSON)
-- ARGV[5]  event time (RFC 3339)
-- ARGV[6]  tenant events maxlen
-- ARGV[7]  attempts increment
-- ARGV[8]  watch: '' keep, '-' remove, else the new score
-- ARGV[9]  callback due: '' keep, '-' remove, else the score (only with a callback_url)
-- ARGV[10] retention seconds for a finished job, or ''
-- ARGV[11] number of field/value pairs that follow; after them, fields to delete
local status = redis.call('HGET', KEYS[1], '${STATUS}')
if not status then
  return {'missing'}
end
if ARGV[1] ~= '*' then
  local allowed = false
  for s in string.gmatch(ARGV[1], '[^,]+') do
    if s == status then allowed = true end
  end
  if not allowed then
    return {'conflict', status}
  end
end
local npairs = tonumber(ARGV[11])
local first_del = 12 + 2 * npairs
if npairs > 0 then
  local fields = {}
  for i = 12, first_del - 1 do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
end
for i = first_del, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
local event = ARGV[3]
if string.sub(event, 1, 1) == '?' then
  event = (ARGV[2] ~= '' and ARGV[2] ~= status) and string.sub(event, 2) or ''
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], '${STATUS}', ARGV[2])
  if ARGV[2] == 'running' then
    redis.call('HSETNX', KEYS[1], '${STARTED_AT}', ARGV[5])
  end
end
local attempts = redis.call('HINCRBY', KEYS[1], '${ATTEMPTS}', tonumber(ARGV[7]))
local job_id = redis.call('HGET', KEYS[1], '${ID}')
local eid = ''
if event ~= '' then
  eid = redis.call('XADD', KEYS[2], '*', 'type', event, 'job_id', job_id,
    'time', ARGV[5], 'data', ARGV[4])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', tonumber(ARGV[6]), '*', 'type', event,
    'job_id', job_id, 'time', ARGV[5], 'data', ARGV[4])
end
if ARGV[8] == '-' then
  redis.call('ZREM', KEYS[4], job_id)
elseif ARGV[8] ~= '' then
  redis.call('ZADD', KEYS[4], tonumber(ARGV[8]), job_id)
end
if ARGV[9] == '-' then
  redis.call('ZREM', KEYS[5], job_id)
elseif ARGV[9] ~= '' and redis.call('HEXISTS', KEYS[1], '${CALLBACK_URL}') == 1 then
  redis.call('ZADD', KEYS[5], tonumber(ARGV[9]), job_id)
end
if ARGV[10] ~= '' then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[10]))
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[10]))
end
-- Metrics (exported by the API's /metrics): counters and histogram buckets in one hash,
-- timed on the Redis server's clock so every worker measures alike.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local job_type = redis.call('HGET', KEYS[1], '${TYPE}') or ''
local buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
  600, 1800, 3600}
local function observe(name, labels, value)
  local bound = '+Inf'
  for _, b in ipairs(buckets) do
    if value <= b then bound = tostring(b) break end
  end
  redis.call('HINCRBY', KEYS[6], name .. '_bucket|' .. labels .. ',le=' .. bound, 1)
  redis.call('HINCRBYFLOAT', KEYS[6], name .. '_sum|' .. labels, value)
  redis.call('HINCRBY', KEYS[6], name .. '_count|' .. labels, 1)
end
if event ~= '' then
  redis.call('HINCRBY', KEYS[6], 'mq_events_total|type=' .. event, 1)
end
if ARGV[2] == 'running' and status ~= 'running'
    and redis.call('HSETNX', KEYS[1], '${STARTED_TS}', now) == 1 then
  local created = tonumber(redis.call('HGET', KEYS[1], '${CREATED_TS}') or now) or now
  observe('mq_job_queue_wait_seconds', 'type=' .. job_type, math.max(0, now - created))
end
if ARGV[10] ~= '' then
  redis.call('HINCRBY', KEYS[6], 'mq_jobs_finished_total|status=' .. ARGV[2] .. ',type=' .. job_type, 1)
  redis.call('HSET', KEYS[1], '${FINISHED_TS}', now)
  local started = tonumber(redis.call('HGET', KEYS[1], '${STARTED_TS}') or '')
  if started then
    observe('mq_job_run_seconds', 'status=' .. ARGV[2] .. ',type=' .. job_type, now - started)
  end
end
if event == 'callback.delivered' then
  local finished = tonumber(redis.call('HGET', KEYS[1], '${FINISHED_TS}') or '')
  if finished then
    observe('mq_callback_delay_seconds', 'type=' .. job_type, math.max(0, now - finished))
  end
end
return {'ok', status, eid, attempts}
