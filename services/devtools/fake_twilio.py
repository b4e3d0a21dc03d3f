"""A fake Twilio REST API on 127.0.0.1 that the real `twilio` SDK talks to (`TWILIO_API_BASE_URL`).

It serves the Messages resource of one account — create, list (To/From/DateSent filters, newest
first, paged), fetch — with HTTP basic auth as Twilio checks it, and answers creates from a
script: success, 429, 500, Twilio error codes in Twilio's JSON error shape, or a hang (with or
without the message having been created, as when Twilio took it but the answer was lost). Every
create and list call is recorded. With `deliver_after_seconds` set it also reports each message's
progress (`sent`, then `delivered`) to the message's `StatusCallback`, signed as Twilio signs
(one attempt each, as Twilio makes), so local messages reach `delivered` too. Tests run it in
their own event loop (`FakeTwilioServer`); `python -m services.devtools.fake_twilio --port N`
serves it standalone (what `make run` does without Twilio credentials, with `--deliver-after 1`),
and its `/_fake/...` endpoints script and inspect it from another process — `givecare chat`
reads the replies it shows from `/_fake/messages?to=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
import os
import sys
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.devtools.loopback import LOOPBACK, LoopbackServer
from services.devtools.signing import twilio_signature

API_VERSION = "2010-04-01"
ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fake-twilio-auth-token"  # noqa: S105 - the fake's default, not a secret
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000
_MESSAGES = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages"


@dataclass(frozen=True)
class Reply:
    """How the fake answers one create call."""

    status: int = 201
    code: int | None = None
    message: str | None = None
    # Hold the answer this long (released early when the server stops).
    hang_seconds: float = 0.0
    # Whether the message exists at Twilio afterwards (a hang may or may not have created it).
    creates: bool = True

    @classmethod
    def created(cls) -> Reply:
        return cls()

    @classmethod
    def error(cls, status: int, code: int, message: str) -> Reply:
        return cls(status=status, code=code, message=message, creates=False)

    @classmethod
    def rate_limited(cls) -> Reply:
        return cls.error(429, 20429, "Too Many Requests")

    @classmethod
    def server_error(cls) -> Reply:
        return cls.error(500, 20500, "Internal Server Error")

    @classmethod
    def unsubscribed(cls) -> Reply:
        return cls.error(400, 21610, "Attempt to send to unsubscribed recipient")

    @classmethod
    def invalid_number(cls) -> Reply:
        return cls.error(400, 21211, "The 'To' number is not a valid phone number.")

    @classmethod
    def hang(cls, seconds: float, *, creates: bool) -> Reply:
        return cls(hang_seconds=seconds, creates=creates)


@dataclass(frozen=True)
class CreateCall:
    """One Messages create request as the fake received it."""

    account_sid: str
    params: dict[str, str]
    authorized: bool
    status: int
    sid: str | None


@dataclass(frozen=True)
class StatusReport:
    """One status callback the fake made; `answer` is the HTTP status, 0 when unreachable."""

    sid: str
    status: str
    answer: int


# What Twilio reports of a delivered message, in order.
DELIVERY_PROGRESS = ("sent", "delivered")


@dataclass
class FakeTwilio:
    """What the fake serves and what it was asked; tests script and read it directly."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # sid → the Message resource, in creation order.
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_callbacks: dict[str, str] = field(default_factory=dict)
    creates: list[CreateCall] = field(default_factory=list)
    lists: list[dict[str, str]] = field(default_factory=list)
    default_reply: Reply = field(default_factory=Reply.created)
    # Seconds between a create and each status callback; None makes none.
    deliver_after_seconds: float | None = None
    reports: list[StatusReport] = field(default_factory=list)
    _reporting: set[asyncio.Task[None]] = field(default_factory=set)
    _replies: deque[Reply] = field(default_factory=deque)
    _list_replies: deque[Reply] = field(default_factory=deque)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def script(self, *replies: Reply) -> None:
        """Answer the next create calls with `replies`, then with `default_reply`."""
        self._replies.extend(replies)

    def script_lists(self, *replies: Reply) -> None:
        """Fail the next list calls with these error replies (then answer normally)."""
        self._list_replies.extend(replies)

    def set_status(self, sid: str, status: str) -> None:
        self.messages[sid]["status"] = status
        self.messages[sid]["date_updated"] = format_datetime(self.now(), usegmt=True)

    def messages_to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["to"] == number]

    def release_hangs(self) -> None:
        self._released.set()

    def stop_reporting(self) -> None:
        for task in self._reporting:
            task.cancel()

    def _report_delivery(self, sid: str) -> None:
        if self.deliver_after_seconds is None or sid not in self.status_callbacks:
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(sid, self.deliver_after_seconds)
        )
        self._reporting.add(task)
        task.add_done_callback(self._reporting.discard)

    async def _deliver(self, sid: str, delay: float) -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            for status in DELIVERY_PROGRESS:
                await asyncio.sleep(delay)
                self.set_status(sid, status)
                self.reports.append(StatusReport(sid, status, await self._post_status(http, sid)))

    async def _post_status(self, http: httpx.AsyncClient, sid: str) -> int:
        """The form Twilio posts to a StatusCallback, signed with the account's auth token."""
        message = self.messages[sid]
        url = self.status_callbacks[sid]
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": message["status"],
            "SmsStatus": message["status"],
            "AccountSid": message["account_sid"],
            "To": message["to"],
            "ApiVersion": API_VERSION,
            **({"From": message["from"]} if message["from"] else {}),
        }
        signature = twilio_signature(self.auth_token, url, form)
        try:
            response = await http.post(url, data=form, headers={"X-Twilio-Signature": signature})
        except httpx.HTTPError:
            return 0
        return response.status_code

    def app(self) -> FastAPI:
        app = FastAPI(title="fake twilio", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post(_MESSAGES + ".json")
        async def create_message(account_sid: str, request: Request) -> Response:
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            authorized = self._authorized(account_sid, request)
            if not authorized:
                self.creates.append(CreateCall(account_sid, params, False, 401, None))
                return _error(401, 20003, "Authenticate")
            reply = self._replies.popleft() if self._replies else self.default_reply
            sid = self._store(account_sid, params) if reply.creates else None
            self.creates.append(CreateCall(account_sid, params, True, reply.status, sid))
            if reply.hang_seconds:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), reply.hang_seconds)
            if reply.status >= 400:
                return _error(reply.status, reply.code, reply.message or "error")
            if sid is None:
                return _error(500, 20500, "scripted success without a message")
            self._report_delivery(sid)
            return JSONResponse(self.messages[sid], status_code=reply.status)

        @app.get(_MESSAGES + ".json")
        async def list_messages(account_sid: str, request: Request) -> Response:
            query = dict(request.query_params)
            self.lists.append(query)
            if not self._authorized(account_sid, request):
                return _error(401, 20003, "Authenticate")
            if self._list_replies:
                reply = self._list_replies.popleft()
                return _error(reply.status, reply.code, reply.message or "error")
            return JSONResponse(self._page(account_sid, query))

        @app.get(_MESSAGES + "/{sid}.json")
        async def fetch_message(account_sid: str, sid: str, request: Request) -> Response:
            if not self._authorized(account_sid, request):
                return _error(401, 20003, "Authenticate")
            message = self.messages.get(sid)
            if message is None or message["account_sid"] != account_sid:
                missing = f"The requested resource {request.url.path} was not found"
                return _error(404, 20404, missing)
            return JSONResponse(message)

        self._control_endpoints(app)
        return app

    def _control_endpoints(self, app: FastAPI) -> None:
        """Scripting and inspection for tests and tools in another process."""

        @app.post("/_fake/script")
        async def script(request: Request) -> dict[str, int]:
            replies = [Reply(**item) for item in await request.json()]
            self.script(*replies)
            return {"scripted": len(replies)}

        @app.get("/_fake/creates")
        async def creates() -> list[dict[str, Any]]:
            return [asdict(call) for call in self.creates]

        @app.get("/_fake/messages")
        async def messages(to: str | None = None) -> list[dict[str, Any]]:
            """Every message created, oldest first; only those to one number with `?to=`."""
            if to is None:
                return list(self.messages.values())
            return self.messages_to(to)

        @app.post("/_fake/messages/{sid}/status")
        async def set_status(sid: str, request: Request) -> dict[str, str]:
            self.set_status(sid, (await request.json())["status"])
            return {"sid": sid}

    def _authorized(self, account_sid: str, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == account_sid == self.account_sid and password == self.auth_token

    def _store(self, account_sid: str, params: dict[str, str]) -> str:
        sid = "SM" + uuid.uuid4().hex
        created = format_datetime(self.now(), usegmt=True)
        body = params.get("Body", "")
        self.messages[sid] = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": params.get("From"),
            "messaging_service_sid": params.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(max(1, math.ceil(len(body) / 153)) if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if params.get("From") else "accepted",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"
            },
            "to": params.get("To"),
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
        }
        if "StatusCallback" in params:
            self.status_callbacks[sid] = params["StatusCallback"]
        return sid

    def _page(self, account_sid: str, query: dict[str, str]) -> dict[str, Any]:
        newest_first = [
            m for m in reversed(self.messages.values()) if m["account_sid"] == account_sid
        ]
        matching = [m for m in newest_first if _matches(m, query)]
        size = min(int(query.get("PageSize", _DEFAULT_PAGE_SIZE)), _MAX_PAGE_SIZE)
        page = int(query.get("Page", 0))
        chunk = matching[page * size : (page + 1) * size]
        path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

        more = len(matching) > (page + 1) * size
        return {
            "messages": chunk,
            "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0),
            "page": page,
            "page_size": size,
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "next_page_uri": (page_uri(page + 1) + f"&PageToken=PA{page + 1}") if more else None,
        }


def _matches(message: dict[str, Any], query: dict[str, str]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    # Twilio filters on the send date; the fake's messages are "sent" when created.
    created = parsedate_to_datetime(message["date_created"])
    if "DateSent" in query and created.date() != _instant(query["DateSent"]).date():
        return False
    if "DateSent>" in query and created < _instant(query["DateSent>"]):
        return False
    return not ("DateSent<" in query and created > _instant(query["DateSent<"]))


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _error(status: int, code: int | None, message: str) -> JSONResponse:
    """Twilio's error document (the REST API's legacy shape, which the SDK parses)."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


class FakeTwilioServer(LoopbackServer):
    """`async with FakeTwilioServer() as server:` serves `server.twilio` at `server.base_url`."""

    def __init__(self, twilio: FakeTwilio | None = None, *, port: int | None = None) -> None:
        self.twilio = twilio or FakeTwilio()
        super().__init__(self.twilio.app(), port=port)

    @property
    def base_url(self) -> str:
        return self.url

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.twilio.release_hangs()
        self.twilio.stop_reporting()
        await super().__aexit__(exc_type, exc, tb)


def main(argv: list[str] | None = None) -> None:
    """Serve standalone; the credentials it accepts are the ones the sender is given."""
    parser = argparse.ArgumentParser(description="Serve a fake Twilio REST API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument(
        "--deliver-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="report sent, then delivered, to each message's StatusCallback this long apart "
        "(default: no status callbacks, so a benchmark measures only what it sends)",
    )
    arguments = parser.parse_args(argv)
    port = arguments.port
    twilio = FakeTwilio(
        account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or ACCOUNT_SID,
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or AUTH_TOKEN,
        deliver_after_seconds=arguments.deliver_after,
    )
    sys.stdout.write(
        f"fake Twilio API on http://{LOOPBACK}:{port} (TWILIO_API_BASE_URL) for account "
        f"{twilio.account_sid}; messages it took: GET /_fake/messages?to=<E.164>\n"
    )
    sys.stdout.flush()
    uvicorn.run(twilio.app(), host=LOOPBACK, port=port, log_level="warning")


if __name__ == "__main__":
    main()
