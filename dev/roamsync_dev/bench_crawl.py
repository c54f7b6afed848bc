"""`make bench`: how close the catalog crawl comes to its limit when every page is slow.

Not a test: it prints figures. Roamify's catalog holds about 28,000 packages; served with every page
answered after a fixed delay, a crawl cannot finish faster than pages x delay / concurrency (the
limit). The simulator runs in a process of its own (its JSON work is not the crawler's), and the
crawl reads and normalises every page exactly as a sync does (`RoamifyClient.iter_catalog_pages` +
`normalise_nodes`), at each concurrency asked for.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from typing import Any

DEFAULT_SIZE = 28_000
DEFAULT_DELAY = 0.150
DEFAULT_CONCURRENCY = (1, 4)
PAGE_SIZE = 50


def serve_simulator(size: int, seed: int, delay: float, urls: Any) -> None:
    """The simulator's process: every request answered after `delay` seconds."""
    from roamsync_dev.simulator import RoamifySimulator, start_server

    sim = RoamifySimulator(size=size, seed=seed, api_key="bench")
    sim.faults.slow_seconds = delay
    server = start_server(sim, port=0)
    urls.put((server.url, sim.listing_count()))
    while True:
        time.sleep(3600)


def crawl(url: str, concurrency: int) -> tuple[float, int, int]:
    """(seconds, pages read, packages normalised) for one whole crawl at `concurrency`."""
    from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
    from roamsync.domain.packages import NormalisedCatalog, normalise_nodes

    client = RoamifyClient(url, "bench", retry=RetryPolicy(4, 0.05, 1.0), page_concurrency=concurrency)
    catalog = NormalisedCatalog()
    pages = 0
    started = time.perf_counter()
    for page in client.iter_catalog_pages(page_size=PAGE_SIZE):
        pages += 1
        normalise_nodes(page.nodes, catalog, page=page.number)
    return time.perf_counter() - started, pages, len(catalog)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--delay", type=float, default=DEFAULT_DELAY, help="seconds before each page answers")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(DEFAULT_CONCURRENCY))
    args = parser.parse_args(argv)

    spawn = multiprocessing.get_context("spawn")
    urls = spawn.Queue()
    server = spawn.Process(target=serve_simulator, args=(args.size, args.seed, args.delay, urls), daemon=True)
    server.start()
    try:
        url, listings = urls.get(timeout=300)
        print(
            f"catalog crawl benchmark: {args.size} packages ({listings} listings, pageSize {PAGE_SIZE}), "
            f"every page answered after {args.delay * 1000:.0f} ms; simulator in its own process",
            flush=True,
        )
        print(
            f"{'concurrency':>11} {'pages':>6} {'packages':>9} {'seconds':>8} {'limit s':>8} {'of limit':>8}"
        )
        for workers in args.concurrency:
            seconds, pages, packages = crawl(url, workers)
            limit = pages * args.delay / workers
            ratio = seconds / limit
            print(f"{workers:>11} {pages:>6} {packages:>9} {seconds:>8.2f} {limit:>8.2f} {ratio:>7.2f}x")
    finally:
        server.terminate()
        server.join(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
