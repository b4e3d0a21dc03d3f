"""A fake OpenAI-compatible chat-completions API on 127.0.0.1 for the real `openai` SDK.

Tests script what each request gets — a reply, a tool call, an HTTP error, or a stall longer
than the client's timeout — and read back every request as the model provider would see it.
Unscripted requests get `default_reply`. `python -m tests.fakes.openai_api` serves it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.devtools.loopback import LOOPBACK, LoopbackServer


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    status: int
    message: str = "the model is unavailable"


@dataclass(frozen=True)
class Stall:
    """Wait this long before answering (longer than the client timeout: a timeout)."""

    seconds: float
    then: Reply = Reply("sorry, that took a while")


Behaviour = Reply | ToolCall | Fail | Stall


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: dict[str, Any]
    authorization: str | None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages


@dataclass
class FakeOpenAI:
    """The script and the record; tests edit and read them directly."""

    default_reply: str = "I'm here with you. What's on your mind?"
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def then(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        self.script.extend(behaviours)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(
                RecordedRequest(request.url.path, body, request.headers.get("authorization"))
            )
            behaviour = self.script.popleft() if self.script else Reply(self.default_reply)
            if isinstance(behaviour, Stall):
                await asyncio.sleep(behaviour.seconds)
                behaviour = behaviour.then
            if isinstance(behaviour, Fail):
                error = {"message": behaviour.message, "type": "server_error", "code": None}
                return JSONResponse({"error": error}, status_code=behaviour.status)
            return JSONResponse(self._completion(body.get("model", "fake"), behaviour))

        return app

    def _completion(self, model: str, behaviour: Reply | ToolCall) -> dict[str, Any]:
        number = next(self._ids)
        if isinstance(behaviour, Reply):
            message: dict[str, Any] = {"role": "assistant", "content": behaviour.text}
            finish = "stop"
        else:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{number}",
                        "type": "function",
                        "function": {
                            "name": behaviour.name,
                            "arguments": json.dumps(behaviour.arguments),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }


class FakeOpenAIServer(LoopbackServer):
    """`async with FakeOpenAIServer() as server:` serves `server.fake` at `server.base_url`."""

    def __init__(self, fake: FakeOpenAI | None = None, *, port: int | None = None) -> None:
        self.fake = fake or FakeOpenAI()
        super().__init__(self.fake.app(), port=port)

    @property
    def base_url(self) -> str:
        """What `LLM_BASE_URL` (the SDK's `base_url`) should be."""
        return f"{self.url}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI chat API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=12112)
    port = parser.parse_args().port
    print(f"fake OpenAI API on http://{LOOPBACK}:{port}/v1 (LLM_BASE_URL)")
    uvicorn.run(FakeOpenAI().app(), host=LOOPBACK, port=port, log_level="warning")


if __name__ == "__main__":
    main()
