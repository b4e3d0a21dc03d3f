"""`givecare chat --phone +15551234567`: be a caregiver texting the system `make run` started.

Every line typed is sent to ingress as a signed Twilio SMS webhook, as Twilio would post it; the
replies are read back from the fake Twilio (`/_fake/messages?to=<phone>`) and printed as they
arrive. After each line it waits (bounded) for the reply, so a piped script —
`printf 'hi\\nAna\\n' | givecare chat --phone ...` — reads as a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from services.cli.options import CaregiverPhone, DevtoolsEnv
from services.devtools.local_run import DEFAULT_DEVTOOLS_ENV, LocalRun
from services.devtools.webhooks import IngressWebhooks, WebhookRefused

_POLL_SECONDS = 0.25
# After the first reply, more may follow (an assessment's result and the crisis text): wait
# this long without a new one before taking the next line.
_SETTLE_SECONDS = 0.75
_QUIT = frozenset({"/quit", "/exit"})


class _Replies:
    """The fake Twilio's messages to one number, each shown once, in the order it took them."""

    def __init__(self, http: httpx.AsyncClient, phone: str, show: Callable[[str], None]) -> None:
        self._http = http
        self._phone = phone
        self._show = show
        self._seen: set[str] = set()
        self.shown = 0

    async def _fetch(self) -> list[dict[str, Any]]:
        response = await self._http.get("/_fake/messages", params={"to": self._phone})
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()
        return messages

    async def skip_earlier(self) -> None:
        """A conversation picked up again shows only what arrives from now on."""
        self._seen.update(message["sid"] for message in await self._fetch())

    async def watch(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                for message in await self._fetch():
                    if message["sid"] not in self._seen:
                        self._seen.add(message["sid"])
                        self.shown += 1
                        self._show(message["body"])
            await asyncio.sleep(_POLL_SECONDS)

    async def wait_after(self, shown_before: int, timeout: float) -> bool:
        """Until a reply arrived and then none for a moment; False if none came in `timeout`."""
        deadline = time.monotonic() + timeout
        last_count, last_change = shown_before, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            if self.shown != last_count:
                last_count, last_change = self.shown, time.monotonic()
            elif last_count > shown_before and time.monotonic() - last_change >= _SETTLE_SECONDS:
                return True
        return self.shown > shown_before


def _lines() -> asyncio.Queue[str | None]:
    """Standard input, line by line, from a daemon thread (so Ctrl-C never waits on a read);
    None at end of input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue


async def run_chat(phone: str, local: LocalRun, reply_timeout: float) -> int:
    async with contextlib.AsyncExitStack() as stack:
        webhooks = IngressWebhooks(
            local.ingress_url,
            twilio_auth_token=local.twilio_auth_token,
            account_sid=local.twilio_account_sid,
        )
        stack.push_async_callback(webhooks.aclose)
        replies = None
        if local.fake_twilio_url is not None:
            fake = httpx.AsyncClient(base_url=local.fake_twilio_url, timeout=5)
            stack.push_async_callback(fake.aclose)
            replies = _Replies(fake, phone, lambda body: typer.echo(f"GiveCare > {body}"))
            try:
                await replies.skip_earlier()
            except httpx.HTTPError:
                typer.echo(
                    f"no fake Twilio at {local.fake_twilio_url}: is `make run` up?", err=True
                )
                return 1
            stack.push_async_callback(_cancel, asyncio.create_task(replies.watch()))
        return await _converse(phone, local, webhooks, replies, reply_timeout)


async def _converse(
    phone: str,
    local: LocalRun,
    webhooks: IngressWebhooks,
    replies: _Replies | None,
    reply_timeout: float,
) -> int:
    """Send each line; with a fake Twilio to read from, wait for its reply before the next."""
    interactive = sys.stdin.isatty()
    typer.echo(_banner(phone, local, interactive), err=True)
    lines = _lines()
    while True:
        if interactive:
            typer.echo("you      > ", nl=False)
        line = await lines.get()
        if line is None or line.strip() in _QUIT:
            return 0
        if not line.strip():
            continue
        if not interactive:
            typer.echo(f"you      > {line}")
        before = replies.shown if replies is not None else 0
        try:
            await webhooks.text(phone, line, to_number=local.our_number)
        except WebhookRefused as refusal:
            typer.echo(f"not delivered: {refusal}", err=True)
            if refusal.status == 403:
                typer.echo(_SIGNATURE_HINT, err=True)
                return 1
            continue
        except httpx.TransportError:
            typer.echo(f"ingress is not answering at {local.ingress_url}", err=True)
            return 1
        if replies is not None and not await replies.wait_after(before, reply_timeout):
            typer.echo(f"(no reply within {reply_timeout:.0f} s)", err=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


_SIGNATURE_HINT = (
    "ingress refused the signature: it checks with another TWILIO_AUTH_TOKEN. Run this from the "
    "directory `make run` runs in, or pass --env-file <state dir>/devtools.env."
)


def _banner(phone: str, local: LocalRun, interactive: bool) -> str:
    where = (
        f"replies come from the fake Twilio at {local.fake_twilio_url}"
        if local.fake_twilio_url
        else "Twilio is real: replies go to the phone, not to this screen"
    )
    how = "type a message and press Enter; /quit or Ctrl-D ends" if interactive else ""
    return f"texting {local.ingress_url} as {phone}; {where}. {how}".rstrip(" .") + "."


def chat(
    phone: CaregiverPhone,
    reply_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a reply before the next line.", min=1)
    ] = 20.0,
    env_file: DevtoolsEnv = DEFAULT_DEVTOOLS_ENV,
) -> None:
    """Text the locally running system as a caregiver and see its replies."""
    local = LocalRun.load(env_file)
    if not local.twilio_auth_token:
        typer.echo("no TWILIO_AUTH_TOKEN to sign with: start `make run` first", err=True)
        raise typer.Exit(1)
    try:
        code = asyncio.run(run_chat(phone, local, reply_timeout))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
