"""The small interfaces services depend on. Adapters implement them; tests pass fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from roamsync.domain.packages import CatalogPage, Package
from roamsync.domain.runs import Run, RunKind


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class CatalogSource(Protocol):
    def iter_catalog_pages(self, page_size: int = 50) -> Iterator[CatalogPage]: ...


class PackageStore(Protocol):
    def load_all(self) -> dict[str, Package]: ...

    def write(self, packages: Iterable[Package]) -> int: ...


class RunStore(Protocol):
    def save(self, run: Run) -> None: ...

    def get(self, run_id: str) -> Run | None: ...

    def latest(self, kind: RunKind, limit: int = 10) -> list[Run]: ...


class AsyncInvoker(Protocol):
    def invoke_async(self, payload: dict[str, Any]) -> None: ...


class Progress(Protocol):
    """Told how far long work got (the CLI draws a bar; handlers pass nothing)."""

    def __call__(self, stage: str, done: int, total: int | None) -> None: ...
