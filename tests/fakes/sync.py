"""In-memory stand-ins for the sync's ports: Roamify's paged catalog and the Packages table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from roamsync.domain.errors import UpstreamError
from roamsync.domain.packages import CatalogPage, Package
from roamsync.domain.sync_plan import Stored
from tests.fakes.dynamo import as_stored


def _entries(nodes: Sequence[Any]) -> int:
    return sum(
        len(node["packages"]) if isinstance(node, dict) and isinstance(node.get("packages"), list) else 1
        for node in nodes
    )


class FakeCatalogSource:
    """Roamify's paged catalog: one CatalogPage per list of raw country nodes, numbered from 1.

    A lookup of one package (`lookup_packages`) finds every node of every page that lists it, unless
    `lookups` scripts its answer (a list of nodes, or an UpstreamError).
    """

    def __init__(
        self, pages: Sequence[Sequence[Any]], lookups: dict[str, list[Any] | UpstreamError] | None = None
    ) -> None:
        self.pages = [list(nodes) for nodes in pages]
        self.lookups = dict(lookups or {})
        self.looked_up: list[str] = []

    def iter_catalog_pages(
        self, page_size: int = 50, *, remaining: Callable[[], float] | None = None
    ) -> Iterator[CatalogPage]:
        for number, nodes in enumerate(self.pages, start=1):
            yield CatalogPage(number=number, nodes=nodes, listings=_entries(nodes))

    def lookup_packages(
        self, package_ids: Iterable[str], *, remaining: Callable[[], float] | None = None
    ) -> Iterator[tuple[str, list[Any] | UpstreamError]]:
        for package_id in package_ids:
            self.looked_up.append(package_id)
            if package_id in self.lookups:
                yield package_id, self.lookups[package_id]
                continue
            listing = [
                {
                    **node,
                    "packages": [
                        p
                        for p in node["packages"]
                        if isinstance(p, dict) and p.get("packageId") == package_id
                    ],
                }
                for nodes in self.pages
                for node in nodes
                if isinstance(node, dict)
                and any(
                    isinstance(p, dict) and p.get("packageId") == package_id for p in node.get("packages", [])
                )
            ]
            yield package_id, listing


class FakePackageStore:
    """The Packages table by reseller_id; `write` answers the batch calls it would take (25 a batch)."""

    def __init__(self, packages: Iterable[Package] = ()) -> None:
        self.packages = {p.reseller_id: as_stored(p) for p in packages}

    def load_all(self) -> dict[str, Package]:
        return dict(self.packages)

    def load_stored(self, progress: Callable[[int], None] | None = None) -> dict[str, Stored]:
        return {
            rid: Stored(p.content_hash, p.status, p.first_seen_at, frozenset(p.coverage))
            for rid, p in self.packages.items()
        }

    def get_many(self, reseller_ids: Iterable[str]) -> dict[str, Package]:
        return {rid: self.packages[rid] for rid in reseller_ids if rid in self.packages}

    def write(
        self, packages: Iterable[Package], *, on_written: Callable[[list[str]], None] | None = None
    ) -> int:
        calls = 0
        batch: list[str] = []
        for p in packages:
            self.packages[p.reseller_id] = as_stored(p)
            batch.append(p.reseller_id)
            if len(batch) == 25:
                calls += 1
                if on_written:
                    on_written(batch)
                batch = []
        if batch:
            calls += 1
            if on_written:
                on_written(batch)
        return calls


class FakeSyncLock:
    """The sync lock: one holder at a time, as the Runs table's lock item allows."""

    def __init__(self, holder: str | None = None) -> None:
        self.holder = holder

    def acquire(self, holder: str) -> str | None:
        if self.holder is not None and self.holder != holder:
            return self.holder
        self.holder = holder
        return None

    def renew(self, holder: str) -> bool:
        return self.holder == holder

    def release(self, holder: str) -> None:
        if self.holder == holder:
            self.holder = None
