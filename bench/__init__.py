"""Benchmarks, run by hand: ``python -m bench.<name> --help`` (see bench/RESULTS.md)."""
