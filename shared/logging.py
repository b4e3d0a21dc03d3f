"""Structured logging for every service: one JSON line per event in production, with the service
name and the event being handled on every line, and phone numbers, message bodies and secrets
masked before anything is written, including lines from third-party libraries and tracebacks.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Final, TextIO

import structlog
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

__all__ = ["bind_event_context", "configure_logging", "mask_phone", "mask_sensitive", "mask_text"]

# Third-party loggers that are chatty at INFO/DEBUG; they only speak from WARNING up.
_NOISY_LOGGERS: Final = (
    "aio_pika",
    "aiormq",
    "pamqp",
    "pymongo",
    "asyncio",
    "urllib3",
    "httpx",
    "httpcore",
    "uvicorn.access",
)

# Keys the pipeline itself fills in; never worth scanning.
_PIPELINE_KEYS: Final = frozenset({"timestamp", "level", "logger", "service"})

_REDACTED: Final = "[REDACTED]"
# Containers nested deeper than this are rendered as (masked) text instead of walked.
_MAX_DEPTH: Final = 8

# --- key classification -------------------------------------------------------------------------

_PLAIN: Final = 0
_SECRET: Final = 1  # value replaced wholesale (None/bools kept)
_SECRET_IF_TEXT: Final = 2  # key merely *contains* a secret word: numbers kept (`token_count=3`)
_BODY: Final = 3  # message content: replaced, length kept
_PHONE: Final = 4  # value is a phone number in whatever format: all but the last 4 digits masked

_SECRET_KEYS: Final = frozenset(
    {
        "token",
        "auth_token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "pwd",
        "authorization",
        "proxy_authorization",
        "signature",
        "x_twilio_signature",
        "stripe_signature",
        "cookie",
        "set_cookie",
        "credentials",
        "private_key",
    }
)
_SECRET_KEY_FRAGMENTS: Final = ("token", "secret", "password", "passwd", "api_key", "apikey")
_BODY_KEYS: Final = frozenset(
    {
        "body",
        "message_body",
        "sms_body",
        "mms_body",
        "raw_body",
        "text",
        "message_text",
        "content",
        "message",
        "reply",
        "reply_text",
        "transcript",
        "prompt",
    }
)
_PHONE_KEYS: Final = frozenset(
    {
        "phone",
        "phone_number",
        "mobile",
        "msisdn",
        "from_number",
        "to_number",
        "caller",
        "wa_id",
    }
)


@functools.lru_cache(maxsize=2048)
def _classify_key(key: str) -> int:
    normal = key.lower().replace("-", "_")
    if normal in _SECRET_KEYS:
        return _SECRET
    if normal in _BODY_KEYS or normal.endswith("_body"):
        return _BODY
    if normal in _PHONE_KEYS or normal.endswith(("_phone", "_phone_number", "_msisdn")):
        return _PHONE
    if any(fragment in normal for fragment in _SECRET_KEY_FRAGMENTS):
        return _SECRET_IF_TEXT
    return _PLAIN


# --- free-text patterns -------------------------------------------------------------------------
#
# Applied in order, each as one `re.sub`, and only when one of the rule's gate substrings occurs
# in the text (a C-speed `in` check), so most strings cost a handful of `in` checks. Patterns start
# with a literal or character class where they can, so `re` skips ahead to candidates at C speed:
# lookbehinds that would defeat that sit after the first character (`\+(?<![\w+]\+)`).
#
# Deliberately *not* masked in free text:
# * A bare 32-hex string (a Twilio auth token looks like that) is left alone unless it is
#   labelled (`auth_token=…`, `"secret": "…"`) or logged under a secret key: unlabelled 32-hex is
#   far more often a trace id, `uuid.hex`, an MD5/ETag or the tail of a Twilio SID (`SM` + 32 hex,
#   an identifier, not a secret), and masking those would make logs useless for debugging.
# * A bare run of 10 digits (`5551234567`) is left alone in free text (epoch seconds, counts,
#   ids look the same); it is masked under a phone key (`phone=`, `to_number=`, `*_phone`).
#   Numbers with a `+` (E.164, `whatsapp:+1…`, `%2B1…`) or US punctuation are always masked.

_DIGITS: Final = frozenset("0123456789")


def _mask_digits(text: str, keep: int = 4) -> str:
    """Replace every ASCII digit but the last `keep` with `*`, leaving punctuation in place."""
    to_mask = sum(char in _DIGITS for char in text) - keep
    out: list[str] = []
    for char in text:
        if char in _DIGITS and to_mask > 0:
            out.append("*")
            to_mask -= 1
        else:
            out.append(char)
    return "".join(out)


def _mask_phone_match(match: re.Match[str]) -> str:
    return _mask_digits(match.group())


def _mask_email_match(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _keep_group(group: int, replacement: str) -> Callable[[re.Match[str]], str]:
    """A `re.sub` callback keeping `group` (the label) and replacing the rest of the match."""

    def replace(match: re.Match[str]) -> str:
        return match.group(group) + replacement

    return replace


def _mask_labelled_match(match: re.Match[str]) -> str:
    """Keep the label and any quotes around the value: `"password": "[REDACTED]"`."""
    value = match.group(2)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group(1)}{quote}{_REDACTED}{quote}"


def _mask_encoded_phone_match(match: re.Match[str]) -> str:
    return match.group(1) + _mask_digits(match.group(2))


_Replacement = str | Callable[[re.Match[str]], str]
_TEXT_RULES: Final[tuple[tuple[tuple[str, ...], re.Pattern[str], _Replacement], ...]] = tuple(
    (gates, re.compile(pattern, re.ASCII), replacement)
    for gates, pattern, replacement in (
        # amqp://user:pass@host, mongodb+srv://user:pass@host, https://user:pass@host
        (
            ("://",),
            r"\b([A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@]*:)[^\s/?#]+@",
            _keep_group(1, "***@"),
        ),
        # token=…, "password": "…", Authorization: Bearer …, Body=… (form-encoded webhooks)
        (
            (":", "="),
            r"(?<![A-Za-z0-9])((?i:auth[_-]?token|token|secret|password|passwd|api[_-]?key|apikey"
            r"|signature|authorization|cookie|body)[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|(?i:bearer\s+|basic\s+)?[^\s\"',;&]+)",
            _mask_labelled_match,
        ),
        (
            ("earer", "EARER"),
            r"([Bb](?<![A-Za-z0-9][Bb])[Ee][Aa][Rr][Ee][Rr]\s+)[A-Za-z0-9._~+/=-]{8,}",
            _keep_group(1, _REDACTED),
        ),
        # Stripe secret/restricted keys, webhook secrets, PaymentIntent/SetupIntent client secrets
        (
            ("_",),
            r"(?<![A-Za-z0-9])((?:sk|rk)_(?:live|test)_|whsec_|(?:pi|seti)_[A-Za-z0-9]+_secret_)"
            r"[A-Za-z0-9]{6,}",
            _keep_group(1, _REDACTED),
        ),
        (
            ("eyJ",),
            r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            "[REDACTED JWT]",
        ),
        (
            ("@",),
            r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*"
            r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
            _mask_email_match,
        ),
        # +15551234567, whatsapp:+15551234567, +1 (555) 123-4567, +44 20 7946 0958
        (("+",), r"\+(?<![\w+]\+)\d(?:[ .()-]{0,2}\d){6,14}(?!\d)", _mask_phone_match),
        # %2B15551234567 in a form-encoded webhook body or query string
        (("%2",), r"(%2[Bb])(\d{7,15})(?!\d)", _mask_encoded_phone_match),
        # (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, 1-555-123-4567
        (
            tuple("0123456789"),
            r"(?<![\w+.-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
            r"(?![\w-]|\.\d)",
            _mask_phone_match,
        ),
    )
)
# No rule can match fewer characters than this ("a@b.co", "body=x").
_MIN_MASKABLE_LENGTH: Final = 6


def _mask_text(text: str) -> str:
    if len(text) < _MIN_MASKABLE_LENGTH:
        return text
    for gates, pattern, replacement in _TEXT_RULES:
        for gate in gates:
            if gate in text:
                text = pattern.sub(replacement, text)
                break
    return text


def mask_text(text: str) -> str:
    """Mask phone numbers, e-mail addresses and secrets in free text, as log lines are masked.

    For text that leaves the process outside the log pipeline (an error stored on a dead-lettered
    message, say). Bare digit runs and unlabelled hex are kept; see the notes above.
    """
    return _mask_text(text)


def mask_phone(phone: str) -> str:
    """A phone number with every digit but the last four masked, whatever its format; for
    phone numbers shown outside the log pipeline (an admin read by the `support` role)."""
    return _mask_digits(phone)


# --- structure walk ----------------------------------------------------------------------------


def _mask_phone_value(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    text = str(value)
    if sum(char in _DIGITS for char in text) >= 7:
        return _mask_digits(text)
    return _mask_text(text)


def _mask_keyed(key: object, value: object, depth: int) -> object:
    kind = _classify_key(key) if isinstance(key, str) else _PLAIN
    if kind == _PLAIN:
        return _mask_value(value, depth)
    if value is None or isinstance(value, bool):
        return value
    if kind == _BODY:
        if isinstance(value, str):
            return f"[REDACTED {len(value)} chars]"
        if isinstance(value, bytes | bytearray):
            return f"[REDACTED {len(value)} bytes]"
        return _REDACTED
    if kind == _PHONE:
        return _mask_phone_value(value)
    if kind == _SECRET_IF_TEXT and isinstance(value, int | float):
        return value
    return _REDACTED


def _mask_value(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return _mask_text(value)
    if value is None or isinstance(value, int | float | Decimal | uuid.UUID | date | time | Enum):
        # numbers, ids, instants: nothing to mask (datetime is a subclass of date)
        return value
    if depth >= _MAX_DEPTH:
        return _mask_text(repr(value))
    if isinstance(value, dict):
        return {
            (_mask_text(key) if isinstance(key, str) else key): _mask_keyed(key, item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        masked = [_mask_value(item, depth + 1) for item in value]
        return tuple(masked) if isinstance(value, tuple) else masked
    if isinstance(value, bytes | bytearray):
        return _mask_text(bytes(value).decode("utf-8", errors="replace"))
    # Models, exceptions, arbitrary objects: their repr is what a renderer would write anyway.
    return _mask_text(repr(value))


def mask_sensitive(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask phone numbers, e-mail addresses, message bodies and secrets.

    Values under sensitive keys (bodies, tokens, passwords, signatures, …; matched
    case-insensitively, `-` and `_` alike, at any depth) are replaced wholesale; every other
    string, including the event message and a formatted traceback, has phone numbers (last four
    digits kept), e-mail addresses, bearer tokens, Stripe keys, JWTs, labelled secrets and URL
    passwords masked. Nested dicts, lists and tuples are copied, never changed in place.

    Must run after exception formatting and right before the renderer.
    """
    for key, value in event_dict.items():
        if key in _PIPELINE_KEYS:
            continue
        event_dict[key] = _mask_keyed(key, value, 0)
    return event_dict


# --- configuration ------------------------------------------------------------------------------


class _AddService:
    """Stamp every line with the service it came from (unless the call names one itself)."""

    __slots__ = ("_service",)

    def __init__(self, service: str) -> None:
        self._service = service

    def __call__(
        self, _logger: WrappedLogger, _method_name: str, event_dict: EventDict
    ) -> EventDict:
        event_dict.setdefault("service", self._service)
        return event_dict


def _add_trace_ids(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """`trace_id` and `span_id` on every line written inside a recorded span (`shared.tracing`),
    so a trace and its log lines find each other."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(span_context.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(span_context.span_id))
    return event_dict


class _ServiceLogHandler(logging.StreamHandler[TextIO]):
    """The root handler `configure_logging` installs; its type lets a second call replace it."""


def _json_default(value: object) -> object:
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _parse_level(level: str) -> int:
    levels = logging.getLevelNamesMapping()
    try:
        return levels[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None


def configure_logging(
    service: str, *, level: str = "INFO", json: bool = True, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging through one pipeline writing to stdout (services) or
    `stream` (a command line whose stdout is its result, e.g. stderr).

    `json=True` writes one JSON object per line (production); `json=False` a colour-free
    `key=value` console line (development). Every line carries `service`, `timestamp` (ISO 8601,
    UTC), `level` and `event`, plus anything bound with `bind_event_context`, and `trace_id` /
    `span_id` inside a recorded span. Safe to call again:
    the previous configuration is replaced, not stacked.
    """
    threshold = _parse_level(level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _AddService(service),
        _add_trace_ids,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=_json_default)
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            mask_sensitive,  # after exception formatting, so tracebacks are masked too
            renderer,
        ],
    )

    handler = _ServiceLogHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _ServiceLogHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(threshold)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: module-level `get_logger()` proxies must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )


@contextmanager
def bind_event_context(
    event_id: str, event_type: str, correlation_id: str | None
) -> Iterator[None]:
    """Carry the event being handled on every log line inside the block, then restore the rest.

    `correlation_id=None` is bound as such, so an outer event's correlation never leaks in.
    """
    with structlog.contextvars.bound_contextvars(
        event_id=event_id, event_type=event_type, correlation_id=correlation_id
    ):
        yield
