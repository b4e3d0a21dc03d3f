"""Prometheus metrics of the SMS worker, served on its ops port (`/metrics`, default 9101): the
calls it makes to the LLM. Labels are bounded sets, never user ids, numbers or message text."""

from __future__ import annotations

from prometheus_client import Histogram

LLM_REQUEST_SECONDS = Histogram(
    "givecare_llm_request_seconds",
    "LLM chat completions as the worker waits for them, the SDK's own retries included "
    "(LLM_MAX_RETRIES), by operation (reply, summary) and outcome (ok, the HTTP status, "
    "timeout, connection, error).",
    ["operation", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 12, 20, 30, 60),
)
