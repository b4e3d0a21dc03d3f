"""`python -m services.migrations …` is `givecare migrations …` (services/cli/migrations.py), kept
as an alias for scripts and runbooks written before the commands moved under `givecare`."""

from __future__ import annotations

import sys

from services.cli.main import app


def main() -> None:
    app(args=["migrations", *sys.argv[1:]], prog_name="givecare")


if __name__ == "__main__":
    main()
