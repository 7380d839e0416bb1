"""Batch jobs: many requests to one endpoint, through Mistral's Batch API or call by call.

Importing the package registers its Celery tasks (``tasks``).
"""

from mistral_queue.tasks.batch import tasks

__all__ = ["tasks"]
