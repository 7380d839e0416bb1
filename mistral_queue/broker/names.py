"""Celery task names and queues: the one place the API, the tasks and the sweep agree on them."""

from mistral_queue.jobs.model import JobType

#: Task that runs one job of each type; its only argument is the job id.
RUN_TASKS = {
    JobType.CHAT: "mistral_queue.chat.run",
    JobType.AGENT: "mistral_queue.agent.run",
    JobType.BATCH: "mistral_queue.batch.run",
    JobType.EMBEDDINGS: "mistral_queue.embeddings.run",
    JobType.OCR: "mistral_queue.ocr.run",
    JobType.MODERATION: "mistral_queue.moderation.run",
    JobType.CLASSIFICATION: "mistral_queue.classification.run",
    JobType.FIM: "mistral_queue.fim.run",
}

#: Task that delivers a job's pending callback; its only argument is the job id.
DELIVER_CALLBACK = "mistral_queue.callbacks.deliver"

#: Queue of each job type; callbacks have their own so a job flood cannot delay them. One
#: call that answers quickly shares chat's queue (and time limit); embeddings and OCR jobs,
#: which may make many calls or wait long for one, share batch's.
QUEUES = {
    JobType.CHAT: "chat",
    JobType.AGENT: "agent",
    JobType.BATCH: "batch",
    JobType.EMBEDDINGS: "batch",
    JobType.OCR: "batch",
    JobType.MODERATION: "chat",
    JobType.CLASSIFICATION: "chat",
    JobType.FIM: "chat",
}
CALLBACKS_QUEUE = "callbacks"

#: Batch tasks besides the run: the next poll of a Mistral batch job (``job_id, seq``), the
#: cancel of one (``job_id``), and one request of a direct-mode batch (``job_id, position``).
BATCH_POLL = "mistral_queue.batch.poll"
BATCH_CANCEL = "mistral_queue.batch.cancel"
BATCH_REQUEST = "mistral_queue.batch.request"
#: Direct-mode requests have their own queue, so a large fan-out cannot delay other polls.
BATCH_REQUESTS_QUEUE = "batch_requests"

#: Every queue a default worker consumes.
ALL_QUEUES = (*dict.fromkeys(QUEUES.values()), CALLBACKS_QUEUE, BATCH_REQUESTS_QUEUE)

#: Task that delivers one job event to one registered endpoint (``endpoint_id, job_id, event``);
#: it runs on the callbacks queue.
DELIVER_TO_ENDPOINT = "mistral_queue.endpoints.deliver"
#: Task that opens the deliveries of a job's current event to its tenant's matching endpoints
#: (``job_id, tenant``): for jobs ended outside a worker (cancelled through the API).
FAN_OUT_TO_ENDPOINTS = "mistral_queue.endpoints.fan_out"
