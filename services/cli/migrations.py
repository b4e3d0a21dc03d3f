"""`givecare migrations list|status|run|verify|rollback`: the data migrations (docs/migrations.md).

They run in direct mode only, where the databases are: in Kubernetes as the migrate Job
(`givecare migrations $MIGRATE_ARGS`), locally beside `make infra`. A run needs the migration
runner's own database user — it reads the legacy store and writes every target — and holds a
lease for as long as it takes; the admin API has neither those credentials nor a reason to keep
an HTTP request open for an hour. So in remote mode only `status` works, reading the progress
records through the API (without error samples, which the API never returns).

`run` shows a progress bar with rate and ETA on stderr and ends with a JSON summary on stdout;
it can be interrupted (even with kill -9) and run again to resume. Exit codes: 0 done or
verified, 1 verify failed or run not completed, 2 usage or configuration error, 3 another runner
holds the lease, 4 a prerequisite has not completed and verified.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

import typer
from tqdm import tqdm

from services.cli.console import (
    EXIT_FAILED,
    EXIT_INVALID,
    fail,
    print_json,
    refuse_remote,
    run,
    run_admin,
    target,
)
from services.migrations.registry import known_migrations
from shared.clock import Clock, SystemClock
from shared.config import ConfigError, MigrationSettings, MongoSettings, load_settings
from shared.migrations.framework import Migration, NotReversible, PrerequisiteMissing
from shared.migrations.runner import LeaseHeld, MigrationRunner
from shared.mongo import MongoClient, create_client

T = TypeVar("T")

Registry = Callable[[MongoSettings, MigrationSettings, Clock], Mapping[str, Migration]]


@dataclass(frozen=True)
class _Session:
    """What one command works with: the database client, a runner, the known migrations."""

    client: MongoClient
    runner: MigrationRunner
    known: Mapping[str, Migration]
    batch_size: int

    def migration(self, migration_id: str) -> Migration:
        if migration_id not in self.known:
            fail(EXIT_INVALID, "unknown_migration", f"no migration {migration_id!r}; see `list`")
        return self.known[migration_id]


# The migrations' own exit codes (the migrate Job fails at once on 2 and 4, retries the others).
EXIT_LEASE_HELD: Final = 3
EXIT_PREREQUISITE: Final = 4
_WHY_DIRECT: Final = (
    "a migration runs where the databases are, with the runner's own database user (in "
    "Kubernetes the migrate Job); remotely, `givecare migrations status` shows its progress"
)

MigrationId = Annotated[str, typer.Argument(help="the migration's id (see `list`)")]


def migrations_cli(registry: Registry = known_migrations) -> typer.Typer:
    """The `migrations` sub-app over `registry` (the product's migrations; tests pass theirs)."""
    app = typer.Typer(help="Data migrations from the legacy store.", no_args_is_help=True)

    @app.command("list")
    def list_migrations() -> None:
        """Every known migration: id, phase, status, description."""
        refuse_remote("migrations list", _WHY_DIRECT)
        typer.echo(_direct(registry, _list))

    @app.command("status")
    def status(migration_id: Annotated[str | None, typer.Argument()] = None) -> None:
        """One migration's record (or all): checkpoint, counts, error samples, lease."""
        if target().api_url is not None:
            progress = run_admin(lambda admin: admin.migrations())
            print_json([p for p in progress if migration_id in (None, p.id)])
            return

        async def records(session: _Session) -> list[Any]:
            records = await session.runner.records()
            return [r for r in records if migration_id in (None, r["_id"])]

        print_json(_direct(registry, records))

    @app.command("run")
    def run_migration(
        migration_id: MigrationId,
        dry_run: Annotated[bool, typer.Option(help="count and sample; write nothing")] = False,
        batch_size: Annotated[
            int | None, typer.Option(min=1, help="default MIGRATIONS_BATCH_SIZE")
        ] = None,
    ) -> None:
        """Run or resume a migration."""
        refuse_remote("migrations run", _WHY_DIRECT)

        async def go(session: _Session) -> dict[str, Any]:
            migration = session.migration(migration_id)
            if dry_run:
                dry = await session.runner.dry_run(migration)
                return {"would_process": dry.would_process, "sample": dry.sample}
            return await _run_one(session, migration, batch_size or session.batch_size)

        summary = _direct(registry, go)
        print_json(summary)
        if "status" in summary and summary["status"] != "completed":
            raise typer.Exit(EXIT_FAILED)

    @app.command("verify")
    def verify(migration_id: MigrationId) -> None:
        """Compare the source with the targets."""
        refuse_remote("migrations verify", _WHY_DIRECT)

        async def go(session: _Session) -> dict[str, Any]:
            return dict(await session.runner.verify(session.migration(migration_id)))

        report = _direct(registry, go)
        print_json(report)
        if not report["ok"]:
            raise typer.Exit(EXIT_FAILED)

    @app.command("rollback")
    def rollback(migration_id: MigrationId) -> None:
        """Undo a migration (where it can be undone)."""
        refuse_remote("migrations rollback", _WHY_DIRECT)

        async def go(session: _Session) -> dict[str, Any]:
            return dict(await session.runner.rollback(session.migration(migration_id)))

        print_json(_direct(registry, go))

    return app


async def _list(session: _Session) -> str:
    by_id = {record["_id"]: record for record in await session.runner.records()}
    return "\n".join(
        f"{migration_id:32} {migration.phase.value:10} "
        f"{by_id.get(migration_id, {}).get('status', 'pending'):12} {migration.description}"
        for migration_id, migration in session.known.items()
    )


async def _run_one(session: _Session, migration: Migration, batch_size: int) -> dict[str, Any]:
    source = session.client[migration.source.database][migration.source.collection]
    total = await source.count_documents(migration.source_query())
    record = await session.runner.record(migration.id) or {}
    done = record.get("checkpoint", {}).get("processed", 0)
    with tqdm(total=total, initial=min(done, total), unit="doc", desc=migration.id) as bar:
        final = await session.runner.run(migration, batch_size=batch_size, on_progress=bar.update)
    return {"id": final["_id"], "status": final["status"], **final.get("checkpoint", {})}


def _direct(registry: Registry, operation: Callable[[_Session], Awaitable[T]]) -> T:
    """Run `operation` over this environment's databases, mapping the runner's refusals to the
    documented exit codes."""
    try:
        mongo = load_settings(MongoSettings)
        settings = load_settings(MigrationSettings)
        known = registry(mongo, settings, SystemClock())
    except ConfigError as error:
        fail(EXIT_INVALID, "invalid_configuration", str(error))

    async def main() -> T:
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
            return await operation(_Session(client, runner, known, settings.batch_size))
        except LeaseHeld as error:
            fail(EXIT_LEASE_HELD, "lease_held", str(error))
        except PrerequisiteMissing as error:
            fail(EXIT_PREREQUISITE, "prerequisite_missing", str(error))
        except NotReversible as error:
            fail(EXIT_INVALID, "not_reversible", str(error))
        finally:
            await client.close()

    return run(main)
