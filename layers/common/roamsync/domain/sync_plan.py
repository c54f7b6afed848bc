"""The catalog diff: what a snapshot changes in the table, and whether it is safe to apply.

The diff reads of the table only what it compares (`Stored`: hash, status, first-seen time and
coverage), never whole items, so a sync's memory grows with the number of packages, not their size.
The plan names packages by reseller_id; the sync builds what it writes one batch at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from roamsync.domain.packages import NormalisedCatalog, Package


class RefusalReason(StrEnum):
    EMPTY_SNAPSHOT = "empty_snapshot"
    INCOMPLETE_SNAPSHOT = "incomplete_snapshot"
    TOO_MANY_DEACTIVATIONS = "deactivation_ratio_exceeded"


class ChangeKind(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    REACTIVATED = "reactivated"
    DEACTIVATED = "deactivated"


class Stored(NamedTuple):
    """What the diff reads of one stored package."""

    content_hash: str
    status: str
    first_seen_at: datetime | None
    coverage: frozenset[str]


@dataclass
class SyncPlan:
    """Every package the sync must write, by reseller_id and why; `unchanged` ones are not written.

    `missing`: stored active packages the snapshot does not list (and whose records were not
    unreadable). They are deactivated only once Roamify confirms they are gone (`gone`); the others
    are `still_listed` (Roamify lists them after all) or `unconfirmed` (it could not say).
    `shrunk`: packages listed with less coverage than stored, which the pages alone cannot prove.
    """

    fetched: int
    skipped: int
    inserts: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    reactivations: list[str] = field(default_factory=list)
    deactivations: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)
    unchanged: int = 0
    active_before: int = 0
    refusal: RefusalReason | None = None
    refusal_detail: str = ""

    def changes(self) -> list[tuple[ChangeKind, str]]:
        """Every write, in the order they are made."""
        return [
            *((ChangeKind.INSERTED, rid) for rid in self.inserts),
            *((ChangeKind.UPDATED, rid) for rid in self.updates),
            *((ChangeKind.REACTIVATED, rid) for rid in self.reactivations),
            *((ChangeKind.DEACTIVATED, rid) for rid in self.deactivations),
        ]

    @property
    def deactivation_ratio(self) -> float:
        return len(self.deactivations) / self.active_before if self.active_before else 0.0

    def planned(self) -> dict[str, int]:
        """How many writes of each kind the plan holds."""
        return {
            ChangeKind.INSERTED.value: len(self.inserts),
            ChangeKind.UPDATED.value: len(self.updates),
            ChangeKind.DEACTIVATED.value: len(self.deactivations),
            ChangeKind.REACTIVATED.value: len(self.reactivations),
        }

    def samples(self, size: int = 5) -> dict[str, list[str]]:
        """A few reseller_ids per change kind, for a dry run's preview."""
        return {
            "inserted": self.inserts[:size],
            "updated": self.updates[:size],
            "deactivated": self.deactivations[:size],
            "reactivated": self.reactivations[:size],
        }

    def without_deactivations(self) -> SyncPlan:
        """The same plan less its deactivations (a forced sync of an incomplete snapshot)."""
        return SyncPlan(
            fetched=self.fetched,
            skipped=self.skipped,
            inserts=self.inserts,
            updates=self.updates,
            reactivations=self.reactivations,
            unchanged=self.unchanged,
            active_before=self.active_before,
            refusal=self.refusal,
            refusal_detail=self.refusal_detail,
        )


def plan_sync(
    snapshot: NormalisedCatalog,
    stored: Mapping[str, Stored],
    *,
    max_deactivation_ratio: float,
    complete: bool = True,
    gone: Collection[str] | None = None,
) -> SyncPlan:
    """Diff a normalised snapshot against the stored packages by content hash.

    New packages are inserted, changed ones updated, inactive ones that came back reactivated, and
    stored active packages the snapshot misses are `missing`. With `gone` (the missing packages
    Roamify confirmed it no longer lists), exactly those are deactivated; without it, every missing
    one is planned for deactivation (what the safety rules judge before anything is confirmed).
    Packages whose upstream record was unreadable are left as they are. The plan carries a refusal
    when applying it would be unsafe; the caller decides about force.
    """
    plan = SyncPlan(fetched=len(snapshot) + snapshot.skipped, skipped=snapshot.skipped)
    plan.active_before = sum(1 for s in stored.values() if s.status == "active")

    for reseller_id in snapshot.ids():
        known = stored.get(reseller_id)
        if known is None:
            plan.inserts.append(reseller_id)
            continue
        came_back = known.status != "active"
        if known.content_hash == snapshot.hash_of(reseller_id) and not came_back:
            plan.unchanged += 1
            continue
        (plan.reactivations if came_back else plan.updates).append(reseller_id)
        if not came_back and known.coverage:
            listed = snapshot.get(reseller_id)
            if listed is not None and set(listed.coverage) < known.coverage:
                plan.shrunk.append(reseller_id)

    for reseller_id, known in stored.items():
        if known.status != "active" or reseller_id in snapshot or reseller_id in snapshot.unreadable_ids:
            continue
        plan.missing.append(reseller_id)
        if gone is None or reseller_id in gone:
            plan.deactivations.append(reseller_id)

    if not complete:
        plan.refusal = RefusalReason.INCOMPLETE_SNAPSHOT
        plan.refusal_detail = "the snapshot did not arrive whole; nothing is deactivated from it"
    elif not len(snapshot):
        plan.refusal = RefusalReason.EMPTY_SNAPSHOT
        plan.refusal_detail = "Roamify returned no readable packages"
    elif plan.deactivation_ratio > max_deactivation_ratio:
        plan.refusal = RefusalReason.TOO_MANY_DEACTIVATIONS
        plan.refusal_detail = (
            f"{len(plan.deactivations)} of {plan.active_before} active packages would be deactivated "
            f"({plan.deactivation_ratio:.1%} > {max_deactivation_ratio:.0%})"
        )
    return plan


def to_write(
    kind: ChangeKind, fresh: Package | None, stored: Package | None, known: Stored | None, now: datetime
) -> Package:
    """The item a change writes: the snapshot's package stamped (inserted, updated, reactivated), or
    the stored one made inactive (deactivated). Raises ValueError when the needed package is absent."""
    if kind is ChangeKind.DEACTIVATED:
        if stored is None:
            raise ValueError("a deactivation needs the stored package")
        return stored.model_copy(update={"status": "inactive", "deactivated_at": now, "updated_at": now})
    if fresh is None:
        raise ValueError(f"a change of kind {kind.value} needs the snapshot's package")
    first_seen = (known.first_seen_at if known else None) or now
    return fresh.model_copy(
        update={
            "first_seen_at": first_seen,
            "last_seen_at": now,
            "updated_at": now,
            "status": "active",
            "deactivated_at": None,
        }
    )
