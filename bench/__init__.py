"""Benchmarks: `make bench` (`python -m bench`) runs every `bench/bench_*.py`; each prints a table
and writes JSON, and `make bench-report` turns the results into docs/performance.md and its
plots. What the product is compared with lives in `bench/baselines/`.

Speed goals live here, never as timed assertions in tests.
"""
