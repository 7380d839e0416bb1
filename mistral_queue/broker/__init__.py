"""The Celery broker side: task names and queues, the Celery configuration, the kombu Redis
patch, the API's fast publish path, and ``dispatch``, the one module that sends tasks."""
