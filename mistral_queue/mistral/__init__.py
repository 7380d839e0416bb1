"""The upstream boundary: Mistral HTTP client, its errors, retry policy and rate limiter."""
