"""Prometheus metrics of the SMS sender; labels are bounded sets, never numbers or user ids."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SMS_OUTCOMES = Counter(
    "givecare_sms_sends_total",
    "Outbound SMS dispatches by outcome (sent, resolved, retry, failed, permanently_failed, "
    "suppressed, refused).",
    ["transport", "outcome"],
)
SMS_SEND_ATTEMPTS = Counter(
    "givecare_sms_send_attempts_total",
    "Send calls made to the SMS provider.",
    ["transport"],
)
SMS_SUPPRESSED = Counter(
    "givecare_sms_suppressed_total",
    "Outbound SMS not sent because the recipient opted out or hit the send cap.",
    ["reason"],
)
TWILIO_REQUEST_SECONDS = Histogram(
    "givecare_twilio_request_seconds",
    "Twilio REST calls: time until the answer (or the timeout).",
    ["operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SMS_DISPATCH_SECONDS = Histogram(
    "givecare_sms_dispatch_seconds",
    "One dispatch of a claimed outbound SMS, claim to recorded outcome, provider call included.",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
