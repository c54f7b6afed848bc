"""In-memory stand-ins for the sync's ports: Roamify's paged catalog and the Packages table."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from roamsync.domain.packages import CatalogPage, Package


class FakeCatalogSource:
    """Roamify's paged catalog: one CatalogPage per list of raw country nodes, numbered from 1."""

    def __init__(self, pages: Sequence[Sequence[Any]]) -> None:
        self.pages = [list(nodes) for nodes in pages]

    def iter_catalog_pages(self, page_size: int = 50) -> Iterator[CatalogPage]:
        for number, nodes in enumerate(self.pages, start=1):
            listings = sum(
                len(node["packages"])
                for node in nodes
                if isinstance(node, dict) and isinstance(node.get("packages"), list)
            )
            yield CatalogPage(number=number, nodes=nodes, listings=listings)


class FakePackageStore:
    """The Packages table by reseller_id; `write` answers the batch calls it would take (25 a batch)."""

    def __init__(self, packages: Iterable[Package] = ()) -> None:
        self.packages = {p.reseller_id: p for p in packages}

    def load_all(self) -> dict[str, Package]:
        return dict(self.packages)

    def write(self, packages: Iterable[Package]) -> int:
        written = list(packages)
        for p in written:
            self.packages[p.reseller_id] = p
        return -(-len(written) // 25)
