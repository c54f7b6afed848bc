"""The fault matrix's simulator: a smaller catalog than the other suites' (60 packages, seed 7), so
the ~50 cases, each on fresh tables, stay quick; it still holds fixable rows and stale packages
with equivalent-or-better fallbacks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SIM_KEY

CATALOG_SIZE = 60


@pytest.fixture
def simulator() -> Iterator[Any]:
    from roamsync_dev.simulator import RoamifySimulator, start_server

    sim = RoamifySimulator(size=CATALOG_SIZE, seed=7, api_key=SIM_KEY)
    server = start_server(sim, port=0)
    sim.url = server.url  # type: ignore[attr-defined]
    try:
        yield sim
    finally:
        server.stop()
