"""The root of every error this package raises; each boundary extends it in its own module."""


class MistralQueueError(Exception):
    """Base class of all mistral-queue errors."""


class ConfigError(MistralQueueError):
    """Raised when a setting is missing or malformed; the message names the variable."""
