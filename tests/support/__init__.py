"""Helpers for the test suite itself (not fixtures: those live in `tests/conftest.py`)."""
