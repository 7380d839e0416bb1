"""Intake checks that need more than a schema: stored inputs, files, limits."""
