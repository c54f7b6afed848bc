"""Backup and restore of every table as JSON lines: `roamsync backup export FILE` / `restore FILE`.

The file:

    {"format": "roamsync-backup", "formatVersion": 1, "schemaVersion": "keys-…", "createdAt": …,
     "tables": {"PackagesTable": "<table name at export>", …}}
    {"table": "PackagesTable", "item": {"reseller_id": {"S": "…"}, …}}     one line per item
    …
    {"end": true, "counts": {"PackagesTable": 500, …}}

Items are DynamoDB's own attribute-value JSON, exactly as a Scan returned them (binary values in
base64), so a restore writes back byte-for-byte what was read, whatever the code's models say.
`schemaVersion` is derived from template.yaml's key schemas (each table's key attributes and their
types): a file written for other keys is refused before anything is written. The closing line holds
the count per table, so a truncated file is refused too.

Restore puts every item with BatchWriteItem (25 a call, UnprocessedItems resent with backoff), so
running it twice gives the same tables. It does not delete items that are not in the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roamsync.adapters.dynamo import write_in_batches
from roamsync_dev.template import table_specs

FORMAT = "roamsync-backup"
FORMAT_VERSION = 1
BATCH = 25

# Told how far an export or restore got: (table logical id, items so far).
Progress = Callable[[str, int], None]


class BackupError(Exception):
    """The file cannot be restored here (other schema, truncated, not a backup); nothing was written."""


def schema_version(template: Mapping[str, Any]) -> str:
    """A short digest of every table's key schema and key attribute types in the template.

    Only keys count: an item restores into any table whose keys match, whatever else changed
    (indexes, TTL, new attributes).
    """
    canonical = {}
    for logical_id, spec in sorted(table_specs(template).items()):
        types = {a["AttributeName"]: a["AttributeType"] for a in spec.attribute_definitions}
        canonical[logical_id] = [
            [k["AttributeName"], k["KeyType"], types.get(k["AttributeName"])] for k in spec.key_schema
        ]
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
    return f"keys-{digest[:12]}"


# ---- attribute values <-> JSON (bytes are the only thing JSON cannot hold as is) -----------------


def encode_value(value: Any) -> Any:
    """A boto3 attribute value (bytes for B / BS) as JSON-safe data (base64 strings)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    return value


def decode_value(value: Any) -> Any:
    """The inverse of encode_value, guided by the attribute-value type tags."""
    if isinstance(value, dict):
        decoded: dict[str, Any] = {}
        for tag, inner in value.items():
            if tag == "B" and isinstance(inner, str):
                decoded[tag] = base64.b64decode(inner)
            elif tag == "BS" and isinstance(inner, list):
                decoded[tag] = [base64.b64decode(v) for v in inner]
            else:
                decoded[tag] = decode_value(inner)
        return decoded
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def _scan(client: Any, table_name: str) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=table_name, ConsistentRead=True):
        yield from page.get("Items", [])


@dataclass
class BackupSummary:
    schema_version: str
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": self.schema_version,
            "counts": dict(self.counts),
            "total": sum(self.counts.values()),
        }


def _no_progress(table: str, done: int) -> None:
    return


def export_tables(
    client: Any,
    tables: Mapping[str, str],
    path: Path,
    template: Mapping[str, Any],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress = _no_progress,
) -> BackupSummary:
    """Write every item of `tables` (logical id → table name) to `path`; return the counts.

    Written to a temporary file beside `path` (mode 0600: orders are customer data) and renamed
    into place at the end, so `path` is never a half-written backup.
    """
    summary = BackupSummary(schema_version(template))
    header = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "schemaVersion": summary.schema_version,
        "createdAt": clock().isoformat(),
        "tables": dict(sorted(tables.items())),
    }
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(json.dumps(header, sort_keys=True) + "\n")
            for logical_id, table_name in sorted(tables.items()):
                count = 0
                for item in _scan(client, table_name):
                    out.write(
                        json.dumps({"table": logical_id, "item": encode_value(item)}, sort_keys=True) + "\n"
                    )
                    count += 1
                    if count % 500 == 0:
                        progress(logical_id, count)
                summary.counts[logical_id] = count
                progress(logical_id, count)
            out.write(json.dumps({"end": True, "counts": summary.counts}, sort_keys=True) + "\n")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise BackupError(f"{path}: line {number} is not JSON") from None
            if not isinstance(record, dict):
                raise BackupError(f"{path}: line {number} is not a JSON object")
            yield number, record


def verify(path: Path, template: Mapping[str, Any], tables: Mapping[str, str]) -> BackupSummary:
    """Read the whole file and check it can be restored here, writing nothing.

    Raises BackupError for a file that is not a roamsync backup, was written for another schema
    version, names a table this template does not have, or is truncated (its counts do not match).
    """
    lines = _lines(path)
    first = next(lines, None)
    if first is None or first[1].get("format") != FORMAT:
        raise BackupError(f"{path} is not a roamsync backup (no header line)")
    header = first[1]
    if header.get("formatVersion") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is backup format {header.get('formatVersion')!r}; "
            f"this roamsync reads format {FORMAT_VERSION}"
        )
    expected = schema_version(template)
    if header.get("schemaVersion") != expected:
        raise BackupError(
            f"{path} was written for table schema {header.get('schemaVersion')!r}, but these tables are "
            f"{expected!r}: their keys differ, so its items would not fit. Restore it with the roamsync "
            "release that wrote it (or into tables created from that release's template.yaml)."
        )
    counts: dict[str, int] = {}
    trailer: dict[str, Any] | None = None
    for number, record in lines:
        if trailer is not None:
            raise BackupError(f"{path}: line {number} follows the closing line")
        if record.get("end") is True:
            trailer = record
            continue
        table = record.get("table")
        if table not in tables:
            raise BackupError(
                f"{path}: line {number} is for table {table!r}, which this template does not have"
            )
        if not isinstance(record.get("item"), dict):
            raise BackupError(f"{path}: line {number} has no item")
        counts[str(table)] = counts.get(str(table), 0) + 1
    if trailer is None:
        raise BackupError(f"{path} is truncated: it has no closing line")
    declared = {k: int(v) for k, v in (trailer.get("counts") or {}).items() if v}
    if declared != {k: v for k, v in counts.items() if v}:
        raise BackupError(f"{path} is damaged: its closing line counts {declared}, the file holds {counts}")
    return BackupSummary(
        expected, {lid: counts.get(lid, 0) for lid in header.get("tables", {}) if lid in tables}
    )


def restore_tables(
    client: Any,
    tables: Mapping[str, str],
    path: Path,
    template: Mapping[str, Any],
    *,
    only: set[str] | None = None,
    max_attempts: int = 8,
    base_backoff_ms: int = 25,
    progress: Progress = _no_progress,
) -> BackupSummary:
    """Put every item of the backup (of the tables in `only`, when given) back into `tables`
    (logical id → table name).

    The file is verified first (see `verify`); nothing is written when it does not pass. Idempotent:
    each item is put as it was read, so a second restore changes nothing. Raises BackupError, or
    roamsync's BatchWriteFailed when DynamoDB keeps items unprocessed.
    """
    summary = verify(path, template, tables)
    if only is not None:
        summary.counts = {lid: n for lid, n in summary.counts.items() if lid in only}
    pending: dict[str, list[dict[str, Any]]] = {}
    written: dict[str, int] = {}

    def flush(logical_id: str) -> None:
        requests = pending.pop(logical_id, [])
        if not requests:
            return
        table_name = tables[logical_id]
        write_in_batches(
            requests,
            table_name,
            lambda batch: client.batch_write_item(RequestItems={table_name: batch}),
            max_attempts=max_attempts,
            base_backoff_ms=base_backoff_ms,
        )
        written[logical_id] = written.get(logical_id, 0) + len(requests)
        progress(logical_id, written[logical_id])

    for _, record in _lines(path):
        logical_id = record.get("table")
        if not isinstance(logical_id, str) or (only is not None and logical_id not in only):
            continue  # the header, the closing line, a table not asked for
        pending.setdefault(logical_id, []).append({"PutRequest": {"Item": decode_value(record["item"])}})
        if len(pending[logical_id]) >= BATCH:
            flush(logical_id)
    for logical_id in list(pending):
        flush(logical_id)
    return summary
