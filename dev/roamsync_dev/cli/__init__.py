"""`roamsync`: the operator's command line. Runs the same service code as the Lambda handlers,
against the local stack or real AWS (whatever the environment's settings point at).

root: the command group; output: printing and exit codes; one module per command group.
"""

# Importing each command module registers its commands on `main`.
from roamsync_dev.cli import backup, cache, healing, local, schedule, sim, sync
from roamsync_dev.cli.output import (
    EXIT_FAILED,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    RECORD_NOT_SAVED_EXIT,
    STATE_FILE,
    SYNC_IN_PROGRESS_EXIT,
)
from roamsync_dev.cli.root import main

__all__ = [
    "EXIT_FAILED",
    "EXIT_PARTIAL",
    "EXIT_REFUSED",
    "RECORD_NOT_SAVED_EXIT",
    "STATE_FILE",
    "SYNC_IN_PROGRESS_EXIT",
    "backup",
    "cache",
    "healing",
    "local",
    "main",
    "schedule",
    "sim",
    "sync",
]
