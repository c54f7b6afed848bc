"""`roamsync backup export FILE` / `backup restore FILE` on moto's DynamoDB: every table round-trips
item for item, a restore is idempotent, and a file for other keys or a truncated one is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.runs import Trigger
from roamsync_dev.backup import FORMAT, schema_version
from roamsync_dev.cli import main
from roamsync_dev.template import create_tables, load_template, table_specs
from tests.conftest import REGION, TABLE_NAMES, make_settings
from tests.fakes.my_packages import shop_row

Snapshot = dict[str, list[dict[str, Any]]]


def client() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def snapshot() -> Snapshot:
    """Every raw item of every table, in a stable order."""
    tables: Snapshot = {}
    for logical_id, name in TABLE_NAMES.items():
        pages = client().get_paginator("scan").paginate(TableName=name)
        items = (i for p in pages for i in p["Items"])
        tables[logical_id] = sorted(items, key=lambda i: json.dumps(i, sort_keys=True, default=repr))
    return tables


def wipe() -> None:
    """Delete every item of every table."""
    specs = table_specs(load_template())
    for logical_id, name in TABLE_NAMES.items():
        keys = [k["AttributeName"] for k in specs[logical_id].key_schema]
        items = [i for p in client().get_paginator("scan").paginate(TableName=name) for i in p["Items"]]
        for start in range(0, len(items), 25):
            deletes = [{"DeleteRequest": {"Key": {k: i[k] for k in keys}}} for i in items[start : start + 25]]
            client().batch_write_item(RequestItems={name: deletes})


def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def seeded(container: Container) -> Snapshot:
    """Every table holding items: the catalog and its sync run, shop rows, a cached validation and an
    order, with every attribute type DynamoDB has (binary, sets, lists, maps, null) among them."""
    sync_catalog(container, Trigger.CLI)
    packages = sorted(container.packages.load_all().values(), key=lambda p: p.reseller_id)
    for n, package in enumerate(packages[:30]):
        container.my_packages.save(shop_row(f"row-{n}", package, validation_status="valid"))
    client().put_item(
        TableName=TABLE_NAMES["ValidationCacheTable"],
        Item={
            "cache_key": {"S": "pkg#1"},
            "expires_at": {"N": "1999999999"},
            "result": {"S": json.dumps({"action": "proceed"})},
            "raw": {"B": b"\x00\xffbinary"},
            "tags": {"SS": ["a", "b"]},
            "blobs": {"BS": [b"\x01", b"\x02"]},
        },
    )
    client().put_item(
        TableName=TABLE_NAMES["OrdersTable"],
        Item={
            "order_id": {"S": "order-1"},
            "record": {"S": json.dumps({"status": "PLACED"})},
            "version": {"N": "3"},
            "attempts": {
                "L": [{"M": {"package": {"S": "p1"}, "ok": {"BOOL": True}, "note": {"NULL": True}}}]
            },
        },
    )
    before = snapshot()
    assert all(before.values()), {k: len(v) for k, v in before.items()}
    return before


def test_export_wipe_restore_gives_back_identical_tables(seeded: Snapshot, tmp_path: Path) -> None:
    backup = tmp_path / "roamsync.jsonl"

    code, output, _ = cli("backup", "export", str(backup), "--json")
    exported = json.loads(output)
    assert code == 0
    assert exported["counts"] == {lid: len(items) for lid, items in seeded.items()}

    wipe()
    assert not any(snapshot().values())

    code, output, _ = cli("backup", "restore", str(backup), "--yes", "--json")
    assert code == 0
    assert json.loads(output)["counts"] == exported["counts"]
    assert snapshot() == seeded


def test_restore_is_idempotent(seeded: Snapshot, tmp_path: Path) -> None:
    backup = tmp_path / "roamsync.jsonl"
    cli("backup", "export", str(backup))

    first = cli("backup", "restore", str(backup), "--yes")
    second = cli("backup", "restore", str(backup), "--yes")

    assert first[0] == second[0] == 0
    assert snapshot() == seeded


def test_the_file_is_json_lines_with_the_schema_version_first_and_the_counts_last(
    seeded: Snapshot, tmp_path: Path
) -> None:
    backup = tmp_path / "roamsync.jsonl"
    cli("backup", "export", str(backup))

    lines = [json.loads(line) for line in backup.read_text().splitlines()]

    header, items, closing = lines[0], lines[1:-1], lines[-1]
    assert header["format"] == FORMAT
    assert header["schemaVersion"] == schema_version(load_template())
    assert header["tables"] == TABLE_NAMES
    assert len(items) == sum(len(v) for v in seeded.values())
    assert closing == {"end": True, "counts": {lid: len(v) for lid, v in seeded.items()}}
    assert backup.stat().st_mode & 0o077 == 0  # customer data: readable by its owner only


def test_a_backup_of_other_table_keys_is_refused_and_nothing_is_written(
    seeded: Snapshot, tmp_path: Path
) -> None:
    backup = tmp_path / "roamsync.jsonl"
    cli("backup", "export", str(backup))
    lines = backup.read_text().splitlines()
    header = json.loads(lines[0])
    header["schemaVersion"] = "keys-000000000000"
    backup.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    wipe()

    code, _, error = cli("backup", "restore", str(backup), "--yes")

    assert code == 1
    assert "keys-000000000000" in error and schema_version(load_template()) in error
    assert not any(snapshot().values())


def test_a_truncated_backup_is_refused_and_nothing_is_written(seeded: Snapshot, tmp_path: Path) -> None:
    backup = tmp_path / "roamsync.jsonl"
    cli("backup", "export", str(backup))
    lines = backup.read_text().splitlines()
    backup.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    wipe()

    code, _, error = cli("backup", "restore", str(backup), "--yes")

    assert code == 1 and "truncated" in error
    assert not any(snapshot().values())


def test_restore_asks_first_and_writes_nothing_when_told_no(seeded: Snapshot, tmp_path: Path) -> None:
    backup = tmp_path / "roamsync.jsonl"
    cli("backup", "export", str(backup))
    wipe()

    code, _, _ = cli("backup", "restore", str(backup), stdin="n\n")

    assert code == 1
    assert not any(snapshot().values())


def test_a_pitr_table_is_copied_back_one_table_only_as_the_runbook_says(
    seeded: Snapshot, container: Container, simulator, tmp_path: Path
) -> None:
    # given PITR restored MyPackages into a new table, and since then rows were lost and an order came
    restored = TABLE_NAMES["MyPackagesTable"] + "-restored"
    create_tables(client(), load_template(), {"MyPackagesTable": restored})
    for item in seeded["MyPackagesTable"]:
        client().put_item(TableName=restored, Item=item)
    for item in seeded["MyPackagesTable"][:5]:
        client().delete_item(TableName=TABLE_NAMES["MyPackagesTable"], Key={"id": item["id"]})
    late_order = {"order_id": {"S": "order-late"}, "record": {"S": "{}"}}
    client().put_item(TableName=TABLE_NAMES["OrdersTable"], Item=late_order)
    backup = tmp_path / "pitr.jsonl"

    # when the restored table is exported in the live one's place, and restored with the live names
    set_container(Container(make_settings(simulator.url, my_packages_table=restored)))
    code, _, _ = cli("backup", "export", str(backup), "--table", "MyPackagesTable")
    assert code == 0
    set_container(container)
    code, output, _ = cli("backup", "restore", str(backup), "--table", "MyPackagesTable", "--yes", "--json")

    # then the live MyPackages is whole again and no other table was touched
    after = snapshot()
    assert code == 0 and json.loads(output)["counts"] == {"MyPackagesTable": len(seeded["MyPackagesTable"])}
    assert after["MyPackagesTable"] == seeded["MyPackagesTable"]
    assert late_order in after["OrdersTable"]


def test_an_unknown_table_is_refused(seeded: Snapshot, tmp_path: Path) -> None:
    code, _, error = cli("backup", "export", str(tmp_path / "x.jsonl"), "--table", "NoSuchTable")

    assert code == 2 and "NoSuchTable" in error
    assert not (tmp_path / "x.jsonl").exists()


def test_the_schema_version_follows_the_keys_and_nothing_else() -> None:
    template = load_template()
    other_keys = copy.deepcopy(template)
    other_keys["Resources"]["RunsTable"]["Properties"]["KeySchema"] = [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "started_at", "KeyType": "RANGE"},
    ]
    other_index = copy.deepcopy(template)
    other_index["Resources"]["PackagesTable"]["Properties"]["GlobalSecondaryIndexes"].pop()

    assert schema_version(other_keys) != schema_version(template)
    assert schema_version(other_index) == schema_version(template)


@pytest.mark.parametrize("command", [["backup"], ["backup", "export"], ["backup", "restore"]])
def test_backup_commands_have_help(command: list[str]) -> None:
    code, output, _ = cli(*command, "--help")

    assert code == 0 and "Usage:" in output
