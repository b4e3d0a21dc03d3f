"""The operator's command line for data migrations.

    python -m services.migrations list | status [ID] | run ID [--dry-run] [--batch-size N]
                                     | verify ID | rollback ID

Reads MONGODB_* and MIGRATIONS_* from the environment. `run` shows a progress bar with rate and
ETA and ends with a summary; it can be interrupted (even with kill -9) and run again to resume.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from services.migrations.registry import known_migrations
from shared.clock import SystemClock
from shared.config import (
    ConfigError,
    LoggingSettings,
    MigrationSettings,
    MongoSettings,
    load_settings,
)
from shared.logging import configure_logging
from shared.migrations.framework import Migration, NotReversible, PrerequisiteMissing
from shared.migrations.runner import LeaseHeld, MigrationRunner
from shared.mongo import create_client


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="known migrations and their status")
    status = commands.add_parser("status", help="one migration's record (or all)")
    status.add_argument("id", nargs="?")
    run = commands.add_parser("run", help="run or resume a migration")
    run.add_argument("id")
    run.add_argument("--dry-run", action="store_true", help="count and sample; write nothing")
    run.add_argument("--batch-size", type=int, default=None)
    for name, text in (("verify", "compare source and targets"), ("rollback", "undo")):
        command = commands.add_parser(name, help=text)
        command.add_argument("id")
    return parser


def _print(document: Mapping[str, Any]) -> None:
    print(json.dumps(document, default=str, indent=2))


async def _run(
    args: argparse.Namespace,
    migrations: Mapping[str, Migration],
    mongo: MongoSettings,
    settings: MigrationSettings,
) -> int:
    client = create_client(mongo, app_name="migrations")
    runner = MigrationRunner(
        client,
        client[settings.state_db],
        SystemClock(),
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        lease_seconds=settings.lease_seconds,
        throttle_docs_per_second=settings.throttle_docs_per_second,
    )
    try:
        if args.command == "list":
            by_id = {r["_id"]: r for r in await runner.records()}
            for migration_id, known in migrations.items():
                status = by_id.get(migration_id, {}).get("status", "pending")
                print(f"{migration_id:32} {known.phase.value:10} {status:12} {known.description}")
            return 0
        if args.command == "status":
            for record in await runner.records():
                if args.id in (None, record["_id"]):
                    _print(record)
            return 0
        if args.id not in migrations:
            print(f"unknown migration {args.id!r}; see `list`", file=sys.stderr)
            return 2
        migration = migrations[args.id]
        if args.command == "run":
            return await _run_one(runner, migration, client, args, settings)
        if args.command == "verify":
            report = await runner.verify(migration)
            _print(report)
            return 0 if report["ok"] else 1
        try:
            _print(dict(await runner.rollback(migration)))
        except NotReversible as error:
            print(error, file=sys.stderr)
            return 2
        return 0
    except LeaseHeld as error:
        print(error, file=sys.stderr)
        return 3
    except PrerequisiteMissing as error:
        print(error, file=sys.stderr)
        return 4
    finally:
        await client.close()


async def _run_one(
    runner: MigrationRunner,
    migration: Migration,
    client: Any,
    args: argparse.Namespace,
    settings: MigrationSettings,
) -> int:
    if args.dry_run:
        dry = await runner.dry_run(migration)
        _print({"would_process": dry.would_process, "sample": dry.sample})
        return 0
    source = client[migration.source.database][migration.source.collection]
    total = await source.count_documents(migration.source_query())
    record = await runner.record(migration.id) or {}
    done = record.get("checkpoint", {}).get("processed", 0)
    with tqdm(total=total, initial=min(done, total), unit="doc", desc=migration.id) as bar:
        final = await runner.run(
            migration, batch_size=args.batch_size or settings.batch_size, on_progress=bar.update
        )
    _print({"id": final["_id"], "status": final["status"], **final.get("checkpoint", {})})
    return 0 if final["status"] == "completed" else 1


def main(argv: list[str] | None = None, migrations: Mapping[str, Migration] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        mongo = load_settings(MongoSettings)
        settings = load_settings(MigrationSettings)
        logging_settings = load_settings(LoggingSettings)
        if migrations is None:
            migrations = known_migrations(mongo, settings, SystemClock())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    # Logs to stderr: stdout carries the JSON result scripts read.
    configure_logging(
        "migrations",
        level=logging_settings.level,
        json=logging_settings.as_json,
        stream=sys.stderr,
    )
    return asyncio.run(_run(args, migrations, mongo, settings))


if __name__ == "__main__":
    sys.exit(main())
