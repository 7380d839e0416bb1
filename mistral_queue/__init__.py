"""mistral-queue: a background job queue for the Mistral AI API with signed webhook callbacks."""

__version__ = "0.1.0"
