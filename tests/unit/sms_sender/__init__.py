"""Unit tests of the SMS sender: body rules, statuses, error classification, backoff."""
