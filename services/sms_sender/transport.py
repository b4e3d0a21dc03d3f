"""How an SMS leaves the system: Twilio through its official async SDK, or the console.

Transports only talk to the provider; what a failure means (retry, give up, ask the provider
first) is decided from `SendFailure.http_status`/`code` by `classification`. The console
transport records the message as sent by "console" and logs that it did, without the body; it is
used only when `SENDER_TRANSPORT=console` chose it, in development (`settings.SenderConfig`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import structlog
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from services.sms_sender.domain.classification import ErrorClass, classify
from services.sms_sender.metrics import TWILIO_REQUEST_SECONDS
from shared.config import TwilioSettings
from shared.logging import mask_text

log = structlog.get_logger(__name__)

STATUS_CALLBACK_KEY_PARAMETER = "key"


@dataclass(frozen=True)
class OutgoingSms:
    key: str
    to_number: str
    body: str
    kind: str


@dataclass(frozen=True)
class ProviderMessage:
    """A message as the provider knows it."""

    sid: str
    status: str
    to_number: str | None = None
    body: str | None = None
    created_at: datetime | None = None


class SendFailure(Exception):
    """The provider call failed; `http_status` None means no HTTP answer (network, timeout)."""

    def __init__(self, reason: str, *, http_status: int | None, code: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.code = code

    @property
    def classification(self) -> ErrorClass:
        return classify(self.http_status, self.code)


class SmsTransport(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> ProviderMessage:
        """Hand one SMS to the provider; raise `SendFailure` when it did not confirm."""
        ...

    async def find_sent(self, to_number: str, since: datetime, limit: int) -> list[ProviderMessage]:
        """The provider's newest messages to `to_number` created at or after `since`."""
        ...

    async def close(self) -> None: ...


def with_outbound_key(callback_url: str, key: str) -> str:
    """The StatusCallback URL carrying the idempotency key, URL-encoded, as ingress expects."""
    parts = urlsplit(callback_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (STATUS_CALLBACK_KEY_PARAMETER, key)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class ConsoleTransport:
    """Development without Twilio: nothing leaves the machine; every send is logged."""

    name = "console"

    async def send(self, sms: OutgoingSms) -> ProviderMessage:
        sid = f"CONSOLE{uuid.uuid4().hex}"
        log.warning(
            "console transport: SMS recorded as sent, NOT delivered (SENDER_TRANSPORT=console)",
            transport=self.name,
            outbound_key=sms.key,
            provider_sid=sid,
            kind=sms.kind,
            to_number=sms.to_number,
            body_chars=len(sms.body),
        )
        return ProviderMessage(sid=sid, status="sent", to_number=sms.to_number)

    async def find_sent(self, to_number: str, since: datetime, limit: int) -> list[ProviderMessage]:
        # Nothing left the machine, so nothing can have been delivered twice: a redo just logs.
        return []

    async def close(self) -> None:
        return None


def _failure(operation: str, error: BaseException) -> SendFailure:
    if isinstance(error, TwilioRestException):
        code = error.code if isinstance(error.code, int) else None
        return SendFailure(mask_text(str(error.msg)), http_status=error.status, code=code)
    if isinstance(error, TwilioServiceException):
        return SendFailure(mask_text(error.title), http_status=error.status, code=error.code)
    if isinstance(error, TwilioException) and len(error.args) > 1:
        # A list page the SDK could not use: `TwilioException(message, response)`.
        status = getattr(error.args[1], "status_code", None)
        if isinstance(status, int):
            return SendFailure(f"twilio {operation}: HTTP {status}", http_status=status, code=None)
    if isinstance(error, TimeoutError):
        return SendFailure(f"twilio {operation}: no answer in time", http_status=None, code=None)
    return SendFailure(f"twilio {operation}: {type(error).__name__}", http_status=None, code=None)


_TRANSPORT_ERRORS = (TwilioException, aiohttp.ClientError, TimeoutError, OSError)


class TwilioTransport:
    """Twilio's Messages API through `AsyncTwilioHttpClient`; `TWILIO_API_BASE_URL` points the
    SDK elsewhere (a fake in tests and local runs). No SDK-level retries: a retried POST could
    create a second message, so every retry is the sender's own, after asking Twilio first."""

    name = "twilio"

    def __init__(self, settings: TwilioSettings) -> None:
        if not settings.configured or settings.auth_token is None:
            raise ValueError("Twilio credentials are not configured")
        self._settings = settings
        self._http = AsyncTwilioHttpClient()
        self._client = Client(
            settings.account_sid, settings.auth_token.get_secret_value(), http_client=self._http
        )
        if settings.api_base_url:
            self._client.api.base_url = settings.api_base_url.rstrip("/")
        self._timeout = settings.request_timeout_seconds

    async def send(self, sms: OutgoingSms) -> ProviderMessage:
        parameters: dict[str, Any] = {"to": sms.to_number, "body": sms.body}
        if self._settings.messaging_service_sid:
            parameters["messaging_service_sid"] = self._settings.messaging_service_sid
        if self._settings.from_number:
            parameters["from_"] = self._settings.from_number
        if self._settings.status_callback_url:
            parameters["status_callback"] = with_outbound_key(
                self._settings.status_callback_url, sms.key
            )
        message = await self._call("create", self._client.messages.create_async(**parameters))
        return _provider_message(message)

    async def find_sent(self, to_number: str, since: datetime, limit: int) -> list[ProviderMessage]:
        found = await self._call(
            "list", self._client.messages.list_async(to=to_number, limit=limit)
        )
        messages = [_provider_message(message) for message in found]
        return [m for m in messages if m.created_at is None or m.created_at >= since]

    async def _call(self, operation: str, request: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            async with asyncio.timeout(self._timeout):
                result = await request
            outcome = "ok"
            return result
        except _TRANSPORT_ERRORS as error:
            failure = _failure(operation, error)
            outcome = "timeout" if failure.http_status is None else str(failure.http_status)
            raise failure from None
        finally:
            TWILIO_REQUEST_SECONDS.labels(operation, outcome).observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self._http.close()


def _provider_message(message: Any) -> ProviderMessage:
    created = message.date_created
    return ProviderMessage(
        sid=str(message.sid),
        status=str(message.status or "queued"),
        to_number=message.to,
        body=message.body,
        created_at=created if isinstance(created, datetime) else None,
    )


def open_transport(choice: Literal["twilio", "console"], twilio: TwilioSettings) -> SmsTransport:
    """The transport `SENDER_TRANSPORT` chose, once `SenderConfig.check` accepted the choice;
    never the console by default (it delivers nothing), and said loudly at start when chosen."""
    if choice == "console":
        log.warning("SENDER_TRANSPORT=console: outbound SMS are logged, not sent to phones")
        return ConsoleTransport()
    return TwilioTransport(twilio)
