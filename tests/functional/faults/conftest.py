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


@pytest.fixture
def container(aws: None, simulator: Any) -> Iterator[Any]:
    """The shared container, with the production default of 4 attempts per Roamify GET: with 30% of
    requests failing and pages read concurrently, 2 attempts would fail a whole sync at random."""
    from roamsync.container import Container, set_container
    from roamsync.settings import reset_settings
    from tests.conftest import make_settings

    c = Container(make_settings(simulator.url, roamify_max_attempts=4))
    set_container(c)
    try:
        yield c
    finally:
        set_container(None)
        reset_settings()
