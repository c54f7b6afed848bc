"""Row changes a run records so it can be undone, and the rule for undoing one safely.

An auto-fix or dedupe run stores, for every row it changes or removes, the row as it was (`before`)
and as the run left it (`after`, None for a removed row), before it touches the table. Undo puts
`before` back only where the row is still exactly as the run left it; anything else is reported,
never overwritten. "Exactly" ignores the validation state (status, reason, validated_at), which the
nightly validation rewrites without anyone editing the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from roamsync.domain.mapping import content_of
from roamsync.domain.my_packages import MyPackage


@dataclass(frozen=True)
class RowChange:
    """One row a run changed: `before` / `after` are None where the row did not exist.

    `applied` is False when the run planned the change but its conditional write lost (the row had
    been edited meanwhile); such a change is kept on record and skipped by undo.
    """

    id: str
    before: MyPackage | None
    after: MyPackage | None
    applied: bool = True
    note: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "before": self.before.model_dump(mode="json") if self.before else None,
            "after": self.after.model_dump(mode="json") if self.after else None,
            "applied": self.applied,
            **({"note": self.note} if self.note else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowChange:
        """Read a change back from a run record. Raises ValueError for a malformed one."""
        try:
            before, after = data.get("before"), data.get("after")
            return cls(
                id=str(data["id"]),
                before=MyPackage.model_validate(before) if before is not None else None,
                after=MyPackage.model_validate(after) if after is not None else None,
                applied=bool(data.get("applied", True)),
                note=dict(data.get("note") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed row change: {exc}") from None


class UndoStep(StrEnum):
    RESTORE = "restore"  # the row is as the run left it: put `before` back
    ALREADY_RESTORED = "already_restored"  # the row is already as it was before the run
    CONFLICT = "conflict"  # changed since the run: report, do not touch


class ConflictReason(StrEnum):
    EDITED_SINCE = "edited_since"  # the row was changed after the run
    DELETED_SINCE = "deleted_since"  # the row the run changed is gone
    ID_TAKEN = "id_taken"  # a removed row's id is in use by a different row


def _same(a: MyPackage | None, b: MyPackage | None) -> bool:
    if a is None or b is None:
        return a is b
    return content_of(a) == content_of(b)


def undo_step(change: RowChange, current: MyPackage | None) -> tuple[UndoStep, ConflictReason | None]:
    """What undoing `change` should do to the row as it is now (`current`, None when absent)."""
    if _same(current, change.after):
        return UndoStep.RESTORE, None
    if _same(current, change.before):
        return UndoStep.ALREADY_RESTORED, None
    if current is None:
        return UndoStep.CONFLICT, ConflictReason.DELETED_SINCE
    if change.after is None:
        return UndoStep.CONFLICT, ConflictReason.ID_TAKEN
    return UndoStep.CONFLICT, ConflictReason.EDITED_SINCE
