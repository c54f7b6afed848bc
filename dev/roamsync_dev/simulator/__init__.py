"""A Roamify API simulator for development and tests; never part of the Lambda layer.

It speaks Roamify's documented API (paged, country-grouped packages; orders with `referenceId`;
order lookup and list; countries; health) over a deterministic generated catalog, and misbehaves the
way a real upstream does, on demand (`Faults`): the catalog changing while it is paged, a `null`
inside a full page, numbers no store can hold, 5xx and 429 answers, an order created and answered
500 that lookups only find later, and faults on the TCP connection itself (`SocketFault`: a body
cut off, an answer dripping in, a reset). Where the documentation leaves a behaviour open, the
simulator can play each reading (`Readings`).

Run it alone with ``python -m roamsync_dev.simulator --port 4010 --size 500 --seed 7``.
"""

from roamsync_dev.simulator.app import ORDER_CREATE, Readings, RoamifySimulator
from roamsync_dev.simulator.catalog import (
    NODES_KEY,
    UNLIMITED_DATA_AMOUNT,
    RawNumber,
    country_nodes,
    generate_catalog,
    malformed_packages,
    out_of_range_packages,
)
from roamsync_dev.simulator.faults import Faults, SocketFault
from roamsync_dev.simulator.server import main, start_server

__all__ = [
    "NODES_KEY",
    "ORDER_CREATE",
    "UNLIMITED_DATA_AMOUNT",
    "Faults",
    "RawNumber",
    "Readings",
    "RoamifySimulator",
    "SocketFault",
    "country_nodes",
    "generate_catalog",
    "main",
    "malformed_packages",
    "out_of_range_packages",
    "start_server",
]
