"""Operator commands for the broker: `python -m shared.broker parked list|replay QUEUE`.

Reads `RABBITMQ_*` settings from the environment like the services do.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from shared.broker.connection import connect
from shared.broker.parking import list_parked, replay_parked
from shared.config import BrokerSettings, ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.broker")
    commands = parser.add_subparsers(dest="group", required=True)
    parked = commands.add_parser("parked", help="events parked in <queue>.dlq")
    actions = parked.add_subparsers(dest="action", required=True)
    for action, text in (
        ("list", "show parked events' metadata (never bodies)"),
        ("replay", "move parked events back to the work queue"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("queue", help="the consumer's work queue, e.g. sms_worker.inbound")
        command.add_argument("--limit", type=int, default=100)
    return parser


async def _run(args: argparse.Namespace, settings: BrokerSettings) -> int:
    connection = await connect(settings, name="broker-cli")
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        if args.action == "list":
            for event in await list_parked(channel, args.queue, limit=args.limit):
                print(json.dumps(dataclasses.asdict(event)))
        else:
            moved = await replay_parked(channel, args.queue, limit=args.limit)
            print(json.dumps({"replayed": moved, "queue": args.queue}))
    finally:
        await connection.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(BrokerSettings)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    return asyncio.run(_run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
