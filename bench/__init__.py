"""Benchmarks: `make bench` runs every `bench/bench_*.py`; each prints a table and writes JSON.

Speed goals live here, never as timed assertions in tests.
"""
