-- Accept a job: record, tenant index, first event and watch entry in one atomic step.
-- KEYS: job hash, job events, tenant jobs, tenant events, idempotency key, jobs watch, metrics,
--       jobs due (a scheduled job waits there), jobs waiting (a job with depends_on does)
-- Job hash field names are placeholders (dollar, braces, the constant's name) that
-- jobs/store.py fills from jobs/keys.py when it loads the script.
-- ARGV: job id, created ms, idempotency value ('' = none), idempotency ttl s, event data,
--       event time, tenant events maxlen, watch score, then field/value pairs
-- The first event is job.<status>: job.queued, job.scheduled or job.waiting.
if ARGV[3] ~= '' then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    return {'exists', existing}
  end
  redis.call('SET', KEYS[5], ARGV[3], 'EX', tonumber(ARGV[4]))
end
local fields = {}
for i = 9, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), ARGV[1])
redis.call('ZADD', KEYS[6], tonumber(ARGV[8]), ARGV[1])
local status = redis.call('HGET', KEYS[1], '${STATUS}')
if status == 'scheduled' then
  redis.call('ZADD', KEYS[8], tonumber(redis.call('HGET', KEYS[1], '${RUN_TS}')), ARGV[1])
elseif status == 'waiting' then
  redis.call('ZADD', KEYS[9], 0, ARGV[1])
end
local event = 'job.' .. status
local eid = redis.call('XADD', KEYS[2], '*', 'type', event, 'job_id', ARGV[1],
  'time', ARGV[6], 'data', ARGV[5])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', tonumber(ARGV[7]), '*', 'type', event,
  'job_id', ARGV[1], 'time', ARGV[6], 'data', ARGV[5])
local job_type = redis.call('HGET', KEYS[1], '${TYPE}')
redis.call('HINCRBY', KEYS[7], 'mq_jobs_accepted_total|type=' .. job_type, 1)
redis.call('HINCRBY', KEYS[7], 'mq_events_total|type=' .. event, 1)
return {'ok', eid}
