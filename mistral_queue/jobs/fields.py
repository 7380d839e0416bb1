"""Every hash field name of a job record and a batch's bookkeeping, in one place.

The public fields are the ``Job`` model's attribute names; the rest are the store's own. The
Lua scripts name fields only through ``LUA_FIELDS`` placeholders, so a name lives here only.
"""

#: Job hash fields. The public ones are the ``Job`` model's attribute names; ``created_ts``,
#: ``started_ts`` and ``finished_ts`` are server-clock unix seconds kept for metrics.
ID = "id"
TENANT = "tenant"
TYPE = "type"
STATUS = "status"
CREATED_AT = "created_at"
CREATED_TS = "created_ts"
STARTED_AT = "started_at"
STARTED_TS = "started_ts"
FINISHED_AT = "finished_at"
FINISHED_TS = "finished_ts"
ATTEMPTS = "attempts"
REQUEST = "request"
METADATA = "metadata"
DEADLINE = "deadline"
PRIORITY = "priority"
PROGRESS = "progress"
ERROR = "error"
RESULT = "result"
PENDING_TOOL_CALLS = "pending_tool_calls"
RESPOND_BY = "respond_by"
REQUEUES = "requeues"
CALLBACK_URL = "callback_url"
CALLBACK_STATUS = "callback_status"
CALLBACK_EVENT = "callback_event"
CALLBACK_ATTEMPTS = "callback_attempts"
CALLBACK_LAST_STATUS_CODE = "callback_last_status_code"
CALLBACK_LAST_ERROR = "callback_last_error"
CALLBACK_NEXT_ATTEMPT_AT = "callback_next_attempt_at"
#: The OpenTelemetry trace of the job's POST: its id (public) and W3C ``traceparent`` (hidden).
TRACE_ID = "trace_id"
TRACEPARENT = "traceparent"
#: Set once a finished job's usage is booked (jobs/usage.py); then its usage and cost.
USAGE_BOOKED = "usage_booked"
USAGE_PROMPT_TOKENS = "usage_prompt_tokens"
USAGE_COMPLETION_TOKENS = "usage_completion_tokens"
COST_INPUT_NANO = "cost_input_nano"
COST_OUTPUT_NANO = "cost_output_nano"
#: A delayed job's due time: RFC 3339 (public) and unix seconds.
RUN_AT = "run_at"
RUN_TS = "run_ts"
#: The JSON list of jobs a job waits for, and the count of its reruns (``jobs/rerun.py``).
DEPENDS_ON = "depends_on"
RETRIES = "retries"

#: The job hash fields the Lua scripts read or write, as ``${NAME}`` placeholders there.
LUA_FIELDS = {
    "ID": ID,
    "TYPE": TYPE,
    "STATUS": STATUS,
    "STARTED_AT": STARTED_AT,
    "STARTED_TS": STARTED_TS,
    "CREATED_TS": CREATED_TS,
    "FINISHED_TS": FINISHED_TS,
    "ATTEMPTS": ATTEMPTS,
    "CALLBACK_URL": CALLBACK_URL,
    "USAGE_BOOKED": USAGE_BOOKED,
    "USAGE_PROMPT_TOKENS": USAGE_PROMPT_TOKENS,
    "USAGE_COMPLETION_TOKENS": USAGE_COMPLETION_TOKENS,
    "COST_INPUT_NANO": COST_INPUT_NANO,
    "COST_OUTPUT_NANO": COST_OUTPUT_NANO,
    "RUN_TS": RUN_TS,
}

#: Batch bookkeeping hash fields (``batch_state``): the request count, then the counters.
BATCH_TOTAL = "total"
BATCH_SUCCEEDED = "succeeded"
BATCH_FAILED = "failed"
BATCH_DISPATCHED = "dispatched"
