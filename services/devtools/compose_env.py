"""The credentials `deploy/compose.yaml` takes from `deploy/.env`: MongoDB's root password and
replica-set key, one database and one broker password per service, and the broker's read-only
monitoring user's. `make up` writes `deploy/.env` with random values the first time; the
committed `deploy/.env.example` is generated from the same list (`--example`, `--check`).

Standard library only: `make up` needs Docker and a Python 3, not the project's environment.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# The services compose runs, by the user name each gets in MongoDB and RabbitMQ.
SERVICES = ("ingress", "sms_worker", "sms_sender", "billing_worker", "scheduler")
MONITORING = "monitoring"

_HEADER = """\
# Credentials for deploy/compose.yaml (docs/deploy.md, docs/security.md). `make up` writes
# deploy/.env with random values the first time (python3 -m services.devtools.compose_env);
# this example is generated from the same list. Never commit deploy/.env.
# MongoDB and RabbitMQ create their users from these on their first start (empty volumes): to
# change a password later, follow docs/security.md ("How to rotate every secret").
"""


def database_password(service: str) -> str:
    return f"DB_PASSWORD_{service.upper()}"


def broker_password(user: str) -> str:
    return f"BROKER_PASSWORD_{user.upper()}"


def credentials() -> dict[str, str]:
    """Each variable, with what it is."""
    found = {
        "DB_ROOT_PASSWORD": "MongoDB's root user `root` (only the mongo container has it)",
        "DB_REPLICA_SET_KEY": "the replica set's internal key (hex; MongoDB needs one with auth)",
    }
    for service in SERVICES:
        found[database_password(service)] = f"MongoDB user `{service}`"
        found[broker_password(service)] = f"RabbitMQ user `{service}`"
    found[broker_password(MONITORING)] = "RabbitMQ's read-only `monitoring` user (queue depths)"
    return found


def render(values: dict[str, str]) -> str:
    lines = [_HEADER]
    for name, what in credentials().items():
        lines.append(f"# {what}\n{name}={values[name]}\n")
    return "\n".join(lines)


def example() -> str:
    return render({name: "change-me" for name in credentials()})


def generated() -> str:
    # Hex: safe inside URLs (no percent-encoding) and a valid MongoDB key file.
    return render({name: secrets.token_hex(24) for name in credentials()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", action="store_true", help="rewrite deploy/.env.example")
    parser.add_argument("--check", action="store_true", help="is deploy/.env.example current?")
    args = parser.parse_args(argv)
    example_file = DEPLOY / ".env.example"
    if args.check:
        if example_file.read_text() != example():
            sys.stderr.write(f"{example_file} is stale: run --example\n")
            return 1
        return 0
    if args.example:
        example_file.write_text(example())
        return 0
    target = DEPLOY / ".env"
    if target.exists():
        sys.stdout.write(f"{target} exists; kept\n")
        return 0
    target.touch(mode=0o600)
    target.write_text(generated())
    sys.stdout.write(f"wrote {target} with random credentials\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
