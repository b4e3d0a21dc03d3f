"""The event catalogue as documents, generated from the pydantic models so they cannot drift.

`python -m services.queues` writes `docs/asyncapi.yaml` (AsyncAPI 3) and `docs/events.md` from
the event models and the system's queues (which the services declare; the platform is handed
them); `--check` exits non-zero when the checked-in files differ (the tests run it).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from shared.events.catalog import EVENTS
from shared.events.envelope import Envelope, Payload

DOCS = Path(__file__).resolve().parents[2] / "docs"
ASYNCAPI_FILE = DOCS / "asyncapi.yaml"
MARKDOWN_FILE = DOCS / "events.md"


Queues = Mapping[str, Sequence[str]]


def _consumers(queues: Queues, event_type: str) -> list[str]:
    return sorted(queue for queue, bindings in queues.items() if event_type in bindings)


def _name(event_type: str) -> str:
    return event_type.replace(".", "_").replace("#", "all").replace("*", "any")


def asyncapi_document(queues: Queues) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Envelope": Envelope[dict[str, Any]].model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    }
    for event_type in EVENTS.types:
        model: type[Payload] = EVENTS.model_for(event_type)
        name = _name(event_type)
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for key, definition in schema.pop("$defs", {}).items():
            schemas[key] = definition
        schemas[model.__name__] = schema
        messages[name] = {
            "name": event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {
                            "payload": {"$ref": f"#/components/schemas/{model.__name__}"}
                        },
                    },
                ]
            },
        }
        channels[name] = {
            "address": event_type,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "description": f"Routing key on the topic exchange; version {model.EVENT_VERSION}.",
        }
        for queue in _consumers(queues, event_type):
            operations[f"{queue}__{name}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{name}"},
                "summary": f"consumed from queue {queue}",
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "GiveCare events",
            "version": "1.0.0",
            "description": "Events on the `givecare.events` topic exchange (RabbitMQ). "
            "Generated from shared/events/catalog.py and the services' queue declarations; "
            "do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def markdown_document(queues: Queues) -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from `shared/events/catalog.py` and the services' queue declarations",
        "(`services/*/queues.py`) by `python -m services.queues`; do not edit by hand.",
        "Every event travels in the envelope (`id`, `type`, `version`,",
        "`occurred_at`, `correlation_id`, `causation_id`, `idempotency_key`, `payload`).",
        "Machine-readable: [asyncapi.yaml](asyncapi.yaml).",
        "",
        "| event type | payload | consumed by |",
        "|---|---|---|",
    ]
    for event_type in EVENTS.types:
        model = EVENTS.model_for(event_type)
        consumers = ", ".join(f"`{q}`" for q in _consumers(queues, event_type)) or "—"
        lines.append(
            f"| `{event_type}` | [{model.__name__}](#{model.__name__.lower()}) | {consumers} |"
        )
    for event_type in EVENTS.types:
        model = EVENTS.model_for(event_type)
        lines += [
            "",
            f"## {model.__name__}",
            "",
            f"`{event_type}` — {inspect.cleandoc(model.__doc__ or '')}",
            "",
        ]
        lines += ["| field | type | required |", "|---|---|---|"]
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        for field, definition in schema.get("properties", {}).items():
            kind = definition.get("type") or " or ".join(
                str(option.get("type", option.get("$ref", "?")).split("/")[-1])
                for option in definition.get("anyOf", [])
            )
            lines.append(f"| `{field}` | {kind} | {'yes' if field in required else 'no'} |")
    return "\n".join(lines) + "\n"


def rendered(queues: Queues) -> dict[Path, str]:
    document = asyncapi_document(queues)
    return {
        ASYNCAPI_FILE: yaml.safe_dump(json.loads(json.dumps(document)), sort_keys=False),
        MARKDOWN_FILE: markdown_document(queues),
    }


def main(argv: list[str] | None = None, *, queues: Queues) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.queues")
    parser.add_argument("--check", action="store_true", help="fail if the files are out of date")
    args = parser.parse_args(argv)
    stale = [
        path
        for path, text in rendered(queues).items()
        if not path.exists() or path.read_text() != text
    ]
    if args.check:
        for path in stale:
            sys.stderr.write(f"{path} is out of date: run python -m services.queues\n")
        return 1 if stale else 0
    for path, text in rendered(queues).items():
        path.write_text(text)
    return 0
