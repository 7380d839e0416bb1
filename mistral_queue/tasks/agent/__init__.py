"""Agent jobs: agents completions and conversations, tool calls, HTTP tools, streaming.

Importing the package registers its Celery tasks (``tasks``).
"""

from mistral_queue.tasks.agent import tasks

__all__ = ["tasks"]
