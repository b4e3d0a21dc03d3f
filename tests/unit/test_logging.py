"""Structured logging: the configured pipeline end to end, and `mask_sensitive` case by case."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from shared.logging import bind_event_context, configure_logging, mask_sensitive, mask_text

PHONE = "+15551234567"
PHONE_DIGITS = "5551234567"
SMS_BODY = "Mom fell again tonight and I don't know who to call"
AUTH_TOKEN = "f3a9c2e17b4d4e0a9c1b2d3e4f5a6b7c"
MESSAGE_SID = "SM0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Give every test the global logging state it found, whatever `configure_logging` did."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    config = structlog.get_config()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger_level in levels.items():
        logging.getLogger(name).setLevel(logger_level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _line(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = _lines(capsys)
    assert len(lines) == 1, lines
    return lines[0]


def _mask(**event: Any) -> dict[str, Any]:
    return dict(mask_sensitive(None, "info", event))


def _mask_one(value: Any) -> Any:
    return _mask(value=value)["value"]


# --- the configured pipeline, end to end ---------------------------------------------------------


def test_json_line_carries_the_standard_fields_and_none_of_the_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("sms-gateway")

    structlog.get_logger("sms.inbound").info(
        f"inbound sms from {PHONE}",
        Body=SMS_BODY,
        From=f"whatsapp:{PHONE}",
        auth_token=AUTH_TOKEN,
        message_sid=MESSAGE_SID,
        segments=2,
    )

    out = capsys.readouterr().out
    for raw in (PHONE, PHONE_DIGITS, SMS_BODY, AUTH_TOKEN):
        assert raw not in out
    line = json.loads(out)
    assert line["service"] == "sms-gateway"
    assert line["level"] == "info"
    assert line["logger"] == "sms.inbound"
    assert line["event"] == "inbound sms from +*******4567"
    assert line["From"] == "whatsapp:+*******4567"
    assert line["Body"] == f"[REDACTED {len(SMS_BODY)} chars]"
    assert line["auth_token"] == "[REDACTED]"
    assert line["message_sid"] == MESSAGE_SID
    assert line["segments"] == 2
    assert line["timestamp"].endswith("Z")
    timestamp = datetime.fromisoformat(line["timestamp"])
    assert timestamp.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - timestamp).total_seconds()) < 60


def test_console_line_is_readable_uncoloured_and_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("sms-gateway", json=False)

    structlog.get_logger("sms.inbound").info(
        f"inbound sms from {PHONE}", Body=SMS_BODY, auth_token=AUTH_TOKEN, segments=2
    )

    out = capsys.readouterr().out
    for raw in (PHONE, PHONE_DIGITS, SMS_BODY, AUTH_TOKEN):
        assert raw not in out
    assert "\x1b[" not in out
    assert not out.lstrip().startswith("{")
    assert "inbound sms from +*******4567" in out
    assert "service=sms-gateway" in out
    assert "segments=2" in out
    assert "[info" in out


@pytest.mark.parametrize("as_json", [True, False])
def test_exception_message_and_traceback_are_masked(
    capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    configure_logging("sms-gateway", json=as_json)

    try:
        raise ValueError(f"cannot deliver to {PHONE}: carrier rejected {SMS_BODY!r}")
    except ValueError:
        structlog.get_logger("sms.outbound").exception("delivery failed", to_number=PHONE)

    out = capsys.readouterr().out
    assert PHONE not in out
    assert PHONE_DIGITS not in out
    assert "Traceback (most recent call last)" in out
    assert "ValueError: cannot deliver to +*******4567" in out.replace("\\n", "\n")
    if as_json:
        line = json.loads(out)
        assert line["level"] == "error"
        assert line["to_number"] == "+*******4567"


def test_stdlib_logger_line_goes_through_the_same_pipeline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("scheduler")

    logging.getLogger("aio_pika.robust_connection").warning(
        "reconnecting to %s on behalf of %s",
        "amqp://givecare:hunter2@rabbitmq:5672/",
        "jane.doe@example.com",
    )

    line = _line(capsys)
    assert line["service"] == "scheduler"
    assert line["level"] == "warning"
    assert line["logger"] == "aio_pika.robust_connection"
    assert line["event"] == (
        "reconnecting to amqp://givecare:***@rabbitmq:5672/ on behalf of j***@example.com"
    )
    assert "timestamp" in line


def test_stdlib_exception_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("api")

    try:
        raise RuntimeError(f"lookup failed for {PHONE}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("unhandled error")

    line = _line(capsys)
    assert line["service"] == "api"
    assert PHONE not in line["exception"]
    assert "RuntimeError: lookup failed for +*******4567" in line["exception"]


def test_noisy_third_party_loggers_only_speak_from_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("api", level="DEBUG")

    logging.getLogger("pymongo.command").info("command started")
    logging.getLogger("aiormq.connection").debug("frame received")
    logging.getLogger("pymongo.topology").warning("server selection slow")
    structlog.get_logger("services.api").debug("our own debug line")

    assert [line["event"] for line in _lines(capsys)] == [
        "server selection slow",
        "our own debug line",
    ]


def test_level_threshold_applies_to_structlog_and_stdlib(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("api", level="warning")

    log = structlog.get_logger("services.api")
    log.info("dropped")
    logging.getLogger("services.other").info("dropped too")
    log.warning("kept")
    logging.getLogger("pymongo").info("dropped as well")
    logging.getLogger("pymongo").warning("kept too")

    assert [line["event"] for line in _lines(capsys)] == ["kept", "kept too"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging("api", level="LOUD")


def test_configuring_again_replaces_instead_of_stacking(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = structlog.get_logger("services.api")  # created before configuration, like a module global
    configure_logging("first")
    configure_logging("second")
    configure_logging("api")

    log.info("once")
    logging.getLogger("services.other").warning("once too")

    lines = _lines(capsys)
    assert [line["event"] for line in lines] == ["once", "once too"]
    assert {line["service"] for line in lines} == {"api"}


def test_positional_arguments_are_formatted_then_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("api")

    structlog.get_logger("services.api").info("texting %s", PHONE)

    assert _line(capsys)["event"] == "texting +*******4567"


def test_bound_event_context_is_on_lines_inside_and_gone_after(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("assessments")
    log = structlog.get_logger("services.assessments")

    with bind_event_context("evt-1", "sms.received", "corr-1"):
        log.info("handling")
        logging.getLogger("pymongo.command").warning("slow query")
    log.info("idle")

    inside_structlog, inside_stdlib, after = _lines(capsys)
    for line in (inside_structlog, inside_stdlib):
        assert line["event_id"] == "evt-1"
        assert line["event_type"] == "sms.received"
        assert line["correlation_id"] == "corr-1"
    assert not {"event_id", "event_type", "correlation_id"} & after.keys()


def test_nested_event_context_restores_the_outer_one(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("assessments")
    log = structlog.get_logger("services.assessments")

    with bind_event_context("outer", "sms.received", "corr-outer"):
        with bind_event_context("inner", "assessment.completed", None):
            log.info("inner")
        log.info("outer")

    inner, outer = _lines(capsys)
    assert (inner["event_id"], inner["correlation_id"]) == ("inner", None)
    assert (outer["event_id"], outer["correlation_id"]) == ("outer", "corr-outer")


async def test_event_context_does_not_leak_between_concurrent_handlers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("assessments")
    log = structlog.get_logger("services.assessments")

    async def handle(event_id: str) -> None:
        with bind_event_context(event_id, "sms.received", f"corr-{event_id}"):
            await asyncio.sleep(0)
            log.info("handled", handled=event_id)

    await asyncio.gather(handle("a"), handle("b"))

    lines = _lines(capsys)
    assert len(lines) == 2
    for line in lines:
        assert line["event_id"] == line["handled"]
        assert line["correlation_id"] == f"corr-{line['handled']}"


# --- mask_sensitive: sensitive keys --------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "body",
        "Body",
        "BODY",
        "message_body",
        "sms_body",
        "text",
        "content",
        "message",
        "request_body",
        "raw-body",
    ],
)
def test_message_body_keys_keep_only_the_length(key: str) -> None:
    assert _mask(**{key: SMS_BODY})[key] == f"[REDACTED {len(SMS_BODY)} chars]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"hello there", "[REDACTED 11 bytes]"),
        ({"Body": SMS_BODY}, "[REDACTED]"),
        (["a", "b"], "[REDACTED]"),
        (None, None),
    ],
)
def test_message_body_keys_with_other_values(value: object, expected: object) -> None:
    assert _mask(body=value)["body"] == expected


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "auth_token",
        "AUTH_TOKEN",
        "TwilioAuthToken",
        "access_token",
        "api_key",
        "Api-Key",
        "stripe_api_key",
        "secret",
        "client_secret",
        "stripe_webhook_secret",
        "password",
        "db_password",
        "passwd",
        "authorization",
        "Authorization",
        "signature",
        "X-Twilio-Signature",
        "Stripe-Signature",
        "cookie",
        "Set-Cookie",
    ],
)
def test_secret_keys_are_replaced_wholesale(key: str) -> None:
    assert _mask(**{key: AUTH_TOKEN})[key] == "[REDACTED]"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("token_count", 5),
        ("prompt_tokens", 123),
        ("secret_rotation_days", 30.5),
        ("has_token", True),
        ("auth_token", None),
        ("password_set", False),
    ],
)
def test_secret_looking_keys_keep_numbers_flags_and_none(key: str, value: object) -> None:
    assert _mask(**{key: value})[key] == value


def test_a_number_under_an_exact_secret_key_is_still_redacted() -> None:
    assert _mask(token=123456)["token"] == "[REDACTED]"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("phone", PHONE_DIGITS, "******4567"),
        ("phone", PHONE, "+*******4567"),
        ("to_number", 15551234567, "*******4567"),
        ("caregiver_phone", "(555) 123-4567", "(***) ***-4567"),
        ("phone_number", "whatsapp:+15551234567", "whatsapp:+*******4567"),
        ("phone", "unknown", "unknown"),
        ("phone", None, None),
    ],
)
def test_phone_keys_mask_any_format(key: str, value: object, expected: object) -> None:
    assert _mask(**{key: value})[key] == expected


def test_pipeline_fields_are_left_alone() -> None:
    event = {
        "timestamp": "2024-05-01T12:34:56.789012Z",
        "level": "info",
        "logger": "services.api",
        "service": "api",
    }
    assert _mask(**event) == event


# --- mask_sensitive: nested structures -----------------------------------------------------------


def test_nested_structures_are_masked_at_every_depth() -> None:
    request: dict[str, Any] = {
        "headers": {
            "Authorization": "Bearer abcdefghijklmnop",
            "X-Twilio-Signature": "aGVsbG8gd29ybGQ=",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        "form": {"Body": SMS_BODY, "From": PHONE, "MessageSid": MESSAGE_SID, "NumMedia": "0"},
        "recipients": [PHONE, ("jane.doe@example.com", 3)],
        "attempts": [{"password": "hunter2", "ok": False}],
    }

    masked = _mask(event="webhook", request=request)["request"]

    assert masked == {
        "headers": {
            "Authorization": "[REDACTED]",
            "X-Twilio-Signature": "[REDACTED]",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        "form": {
            "Body": f"[REDACTED {len(SMS_BODY)} chars]",
            "From": "+*******4567",
            "MessageSid": MESSAGE_SID,
            "NumMedia": "0",
        },
        "recipients": ["+*******4567", ("j***@example.com", 3)],
        "attempts": [{"password": "[REDACTED]", "ok": False}],
    }
    assert request["form"]["Body"] == SMS_BODY  # the caller's objects are not touched


def test_dict_keys_that_are_phone_numbers_are_masked() -> None:
    assert _mask_one({PHONE: 2, "other": 1}) == {"+*******4567": 2, "other": 1}


def test_arbitrary_objects_are_masked_through_their_repr() -> None:
    class Caregiver:
        def __repr__(self) -> str:
            return f"Caregiver(phone={PHONE!r}, email='jane.doe@example.com')"

    assert _mask_one(Caregiver()) == "Caregiver(phone='+*******4567', email='j***@example.com')"
    assert _mask_one(ValueError(PHONE)) == "ValueError('+*******4567')"


def test_self_referencing_structures_do_not_recurse_forever() -> None:
    loop: list[object] = [PHONE]
    loop.append(loop)

    masked = _mask_one(loop)

    assert PHONE not in repr(masked)


# --- mask_sensitive: free text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # phone numbers: everything but the last four digits
        (PHONE, "+*******4567"),
        (f"whatsapp:{PHONE}", "whatsapp:+*******4567"),
        ("(555) 123-4567", "(***) ***-4567"),
        ("555-123-4567", "***-***-4567"),
        ("555.123.4567", "***.***.4567"),
        ("555 123 4567", "*** *** 4567"),
        ("1-555-123-4567", "*-***-***-4567"),
        ("+1 (555) 123-4567", "+* (***) ***-4567"),
        ("+44 20 7946 0958", "+** ** **** 0958"),
        ("call me at 555-123-4567.", "call me at ***-***-4567."),
        ("From=%2B15551234567&To=%2b15557654321", "From=%2B*******4567&To=%2b*******4321"),
        # e-mail addresses: first character and domain kept
        ("jane.doe@example.com", "j***@example.com"),
        ("reply to Jane+care@Mail.Example.org now", "reply to J***@Mail.Example.org now"),
        # credentials in URLs
        ("amqp://givecare:s3cret@rabbitmq:5672/%2F", "amqp://givecare:***@rabbitmq:5672/%2F"),
        (
            "mongodb+srv://app:p%40ss@cluster0.example.net/givecare",
            "mongodb+srv://app:***@cluster0.example.net/givecare",
        ),
        ("mongodb://root:example@mongo:27017", "mongodb://root:***@mongo:27017"),
        # bearer tokens, Stripe secrets, JWTs
        ("sent with Bearer abcdefghijklmnop", "sent with Bearer [REDACTED]"),
        ("authorization: bearer abc.def-ghi_123", "authorization: [REDACTED]"),
        ("stripe key sk_live_51HabcdefGHIJKL", "stripe key sk_live_[REDACTED]"),
        ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_[REDACTED]"),
        ("rk_live_abcdef123456", "rk_live_[REDACTED]"),
        ("whsec_abcdefgh12345678", "whsec_[REDACTED]"),
        ("pi_3MtwBwLkdIwHu7ix_secret_YrKJUKribcBjcG8", "pi_3MtwBwLkdIwHu7ix_secret_[REDACTED]"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0TH",
            "jwt [REDACTED JWT]",
        ),
        # labelled secrets, including a Twilio auth token
        (f"TWILIO_AUTH_TOKEN={AUTH_TOKEN}", "TWILIO_AUTH_TOKEN=[REDACTED]"),
        (f"auth token: {AUTH_TOKEN}", "auth token: [REDACTED]"),
        ('{"password": "hunter2 with spaces"}', '{"password": "[REDACTED]"}'),
        ("{'api_key': 'abc123'}", "{'api_key': '[REDACTED]'}"),
        ("GET /webhook?token=abc123&page=2", "GET /webhook?token=[REDACTED]&page=2"),
        ("X-Twilio-Signature: aGVsbG8=", "X-Twilio-Signature: [REDACTED]"),
        ("Body=Hi+there&From=%2B15551234567", "Body=[REDACTED]&From=%2B*******4567"),
    ],
)
def test_sensitive_text_is_masked(text: str, expected: str) -> None:
    assert _mask_one(text) == expected
    assert _mask(event=text)["event"] == expected
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:34:56.789012+00:00",
        "2024-05-01T12:34:56Z",
        "2024-05-01 12:34:56",
        "0190f3a2-1b2c-7d3e-8f40-123456789abc",
        "12345678-1234-1234-1234-123456789012",
        MESSAGE_SID,
        "MM0123456789abcdef0123456789abcdef",
        "AC0123456789abcdef0123456789abcdef",
        # Judgement call: an unlabelled 32-hex string is far more often a trace id, uuid.hex or a
        # hash than a Twilio auth token, so it is kept; labelled or under a secret key it is masked.
        AUTH_TOKEN,
        "4bf92f3577b34da6a3ce929d0e0e4736",
        # Judgement call: a bare run of digits is kept in free text (epoch seconds, counts, ids);
        # under a phone key it is masked.
        PHONE_DIGITS,
        "1700000000",
        "/v1/webhooks/twilio/sms",
        "/api/caregivers/42/messages?page=2&limit=50",
        "took 1234.5678 ms",
        "retry 3 of 5 in 2.5s",
        "192.168.100.200",
        "mongo:27017",
        "amqp://rabbitmq:5672/",
        "mongodb://mongo:27017/givecare?replicaSet=rs0",
        "v1.2.3",
        "sms.received",
        "billing.stripe.invoice_paid",
        "pk_live_abcdef123456",
        "token expired",
        "the password was rejected",
        "missing bearer token",
        "idempotency_key=sms:abc-123",
        "+5 points",
        "ttl index updated",
        "",
    ],
)
def test_benign_text_is_untouched(text: str) -> None:
    assert _mask_one(text) == text
    assert mask_text(text) == text


@pytest.mark.parametrize(
    "value",
    [
        0,
        3,
        12.5,
        True,
        None,
        uuid.UUID("0190f3a2-1b2c-7d3e-8f40-123456789abc"),
        datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC),
        15551234567,  # a number is not text: only a phone key masks it
    ],
)
def test_non_text_values_are_untouched(value: object) -> None:
    assert _mask_one(value) is value


# --- mask_sensitive: cost ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a." * 20_000 + "://user:pass@host",
        "1 " * 20_000,
        "+" + "1 " * 10_000,
        "a@a." * 10_000,
        '"password": "' + "x" * 50_000,
        "eyJ" + "a" * 50_000,
        "123-" * 20_000,
    ],
    ids=["url", "digits", "plus", "emails", "unterminated", "jwt", "dashes"],
)
@pytest.mark.timeout(10)
def test_pathological_text_does_not_backtrack_catastrophically(text: str) -> None:
    # A super-linear regex would hang here; the timeout turns that into a failure.
    masked = _mask_one(text)
    assert isinstance(masked, str)
    assert len(masked) >= len(text) // 2
