"""Online data migrations: a resumable, checkpointed, leased runner and the migrations it runs.

See `framework.py` for what a migration is and `runner.py` for how it runs;
`givecare migrations` is the operator's command line.
"""

from shared.migrations.framework import (
    Destination,
    DocumentRejected,
    Into,
    Migration,
    NotReversible,
    Phase,
    Plan,
    PrerequisiteMissing,
    Status,
    Target,
    VerifyReport,
)
from shared.migrations.runner import DryRun, LeaseHeld, LeaseLost, MigrationRunner

__all__ = [
    "Destination",
    "DocumentRejected",
    "DryRun",
    "Into",
    "LeaseHeld",
    "LeaseLost",
    "Migration",
    "MigrationRunner",
    "NotReversible",
    "Phase",
    "Plan",
    "PrerequisiteMissing",
    "Status",
    "Target",
    "VerifyReport",
]
