"""The catalog diff: what a snapshot changes in the table, and whether it is safe to apply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from roamsync.domain.packages import NormalisedCatalog, Package


class RefusalReason(StrEnum):
    EMPTY_SNAPSHOT = "empty_snapshot"
    INCOMPLETE_SNAPSHOT = "incomplete_snapshot"
    TOO_MANY_DEACTIVATIONS = "deactivation_ratio_exceeded"


@dataclass
class SyncPlan:
    """Every package the sync must write, grouped by why; `unchanged` packages are not written."""

    fetched: int
    skipped: int
    inserts: list[Package] = field(default_factory=list)
    updates: list[Package] = field(default_factory=list)
    deactivations: list[Package] = field(default_factory=list)
    reactivations: list[Package] = field(default_factory=list)
    unchanged: int = 0
    active_before: int = 0
    refusal: RefusalReason | None = None
    refusal_detail: str = ""

    @property
    def writes(self) -> list[Package]:
        return [*self.inserts, *self.updates, *self.deactivations, *self.reactivations]

    @property
    def deactivation_ratio(self) -> float:
        return len(self.deactivations) / self.active_before if self.active_before else 0.0

    def counts(self) -> dict[str, int]:
        return {
            "fetched": self.fetched,
            "inserted": len(self.inserts),
            "updated": len(self.updates),
            "unchanged": self.unchanged,
            "deactivated": len(self.deactivations),
            "reactivated": len(self.reactivations),
            "skipped": self.skipped,
        }

    def samples(self, size: int = 5) -> dict[str, list[str]]:
        """A few reseller_ids per change kind, for a dry run's preview."""
        return {
            "inserted": [p.reseller_id for p in self.inserts[:size]],
            "updated": [p.reseller_id for p in self.updates[:size]],
            "deactivated": [p.reseller_id for p in self.deactivations[:size]],
            "reactivated": [p.reseller_id for p in self.reactivations[:size]],
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
    existing: Mapping[str, Package],
    *,
    now: datetime,
    max_deactivation_ratio: float,
    complete: bool = True,
) -> SyncPlan:
    """Diff a normalised snapshot against the stored packages by content hash.

    New packages are inserted, changed ones updated (keeping `first_seen_at`), stored active
    packages absent upstream are deactivated (never deleted), and inactive ones that came back
    are reactivated. Packages whose upstream record was unreadable are left as they are. The
    plan carries a refusal when applying it would be unsafe; the caller decides about force.
    """
    plan = SyncPlan(fetched=len(snapshot.packages) + snapshot.skipped, skipped=snapshot.skipped)
    plan.active_before = sum(1 for p in existing.values() if p.status == "active")

    for reseller_id, fresh in snapshot.packages.items():
        stored = existing.get(reseller_id)
        if stored is None:
            plan.inserts.append(
                fresh.model_copy(update={"first_seen_at": now, "last_seen_at": now, "updated_at": now})
            )
            continue
        came_back = stored.status == "inactive"
        if stored.content_hash == fresh.content_hash and not came_back:
            plan.unchanged += 1
            continue
        written = fresh.model_copy(
            update={
                "first_seen_at": stored.first_seen_at or now,
                "last_seen_at": now,
                "updated_at": now,
                "status": "active",
                "deactivated_at": None,
            }
        )
        (plan.reactivations if came_back else plan.updates).append(written)

    for reseller_id, stored in existing.items():
        gone = reseller_id not in snapshot.packages and reseller_id not in snapshot.unreadable_ids
        if gone and stored.status == "active":
            plan.deactivations.append(
                stored.model_copy(update={"status": "inactive", "deactivated_at": now, "updated_at": now})
            )

    if not complete:
        plan.refusal = RefusalReason.INCOMPLETE_SNAPSHOT
        plan.refusal_detail = "the snapshot did not arrive whole; nothing is deactivated from it"
    elif not snapshot.packages:
        plan.refusal = RefusalReason.EMPTY_SNAPSHOT
        plan.refusal_detail = "Roamify returned no readable packages"
    elif plan.deactivation_ratio > max_deactivation_ratio:
        plan.refusal = RefusalReason.TOO_MANY_DEACTIVATIONS
        plan.refusal_detail = (
            f"{len(plan.deactivations)} of {plan.active_before} active packages would be deactivated "
            f"({plan.deactivation_ratio:.1%} > {max_deactivation_ratio:.0%})"
        )
    return plan
