"""`roamsync validate | dedupe | undo | health | schedule` through click's CliRunner, on moto's DynamoDB
and EventBridge (the rule created as the template would). stdout carries the output; logs go to
stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest
from click.testing import CliRunner

from roamsync.container import Container, set_container
from roamsync_dev.cli import main
from tests.conftest import REGION, make_settings
from tests.fakes.my_packages import GB, StepClock, catalog_package, dedupe_scenario, shop_row

RULE = "roamsync-test-nightly"


@pytest.fixture
def cli_container(aws: None) -> Iterator[Container]:
    container = Container(make_settings(schedule_rule_name=RULE), clock=StepClock())
    set_container(container)
    try:
        yield container
    finally:
        set_container(None)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def a_shop_with_one_fixable_row(c: Container) -> None:
    gone = catalog_package("gone", status="inactive", price="10.00")
    better = catalog_package("better", data_mb=10 * GB, price="9.00")
    ok = catalog_package("ok")
    c.packages.write([gone, better, ok])
    c.my_packages.save(shop_row("fixable", gone))
    c.my_packages.save(shop_row("fine", ok))


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["dedupe"],
        ["undo"],
        ["health"],
        ["schedule"],
        ["schedule", "enable"],
        ["schedule", "disable"],
        ["schedule", "status"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    code, output, _ = run_cli(*command, "--help")
    assert code == 0
    assert "Usage:" in output


def test_validate_with_fix_then_undo_puts_the_row_back(cli_container: Container) -> None:
    a_shop_with_one_fixable_row(cli_container)
    code, output, _ = run_cli("validate", "--json")
    assert code == 0
    validated = cli_container.my_packages.get("fixable")

    code, output, _ = run_cli("validate", "--fix", "--json")
    body = json.loads(output)
    assert code == 0
    assert body["trigger"] == "cli" and body["kind"] == "validation"
    assert body["counts"] | {"checked": 2, "valid": 2, "invalid": 0, "fixed": 1} == body["counts"]
    assert body["health"]["healthScore"] == 100.0
    assert cli_container.my_packages.get("fixable").reseller_id == "better"  # type: ignore[union-attr]

    code, output, _ = run_cli("undo", body["autofix"]["runId"], "--json")
    undone = json.loads(output)
    assert code == 0
    assert undone["restoredCount"] == 1 and undone["conflicts"] == []
    assert cli_container.my_packages.get("fixable") == validated


def test_validate_dry_run_writes_nothing(cli_container: Container) -> None:
    a_shop_with_one_fixable_row(cli_container)
    before = list(cli_container.my_packages.all())

    code, output, _ = run_cli("validate", "--fix", "--dry-run", "--json")

    assert code == 0
    assert json.loads(output)["counts"]["fixed"] == 1
    assert list(cli_container.my_packages.all()) == before


def test_health_reports_every_row(cli_container: Container) -> None:
    a_shop_with_one_fixable_row(cli_container)
    run_cli("validate")

    code, output, _ = run_cli("health", "--json")
    body = json.loads(output)

    assert code == 0
    assert (body["totalPackages"], body["validPackages"], body["invalidPackages"]) == (2, 1, 1)
    assert body["healthScore"] == 50.0 and body["lastValidation"] is not None
    code, text, _ = run_cli("health")
    assert "50.0%" in text


def test_dedupe_dry_run_then_dedupe_then_undo(cli_container: Container) -> None:
    rows, catalog, _, _ = dedupe_scenario()
    cli_container.packages.write(catalog.values())
    for row in rows:
        cli_container.my_packages.save(row)

    _, dry, _ = run_cli("dedupe", "--dry-run", "--json")
    assert len(list(cli_container.my_packages.all())) == len(rows)
    _, real, _ = run_cli("dedupe", "--json")
    code, undone, _ = run_cli("undo", json.loads(real)["runId"], "--json")

    assert json.loads(dry)["removedCount"] == json.loads(real)["removedCount"] == 8
    assert json.loads(dry)["details"] == json.loads(real)["details"]
    assert code == 0 and json.loads(undone)["restoredCount"] == 8
    assert len(list(cli_container.my_packages.all())) == len(rows)


def test_undo_of_an_unknown_run_fails_with_a_message(cli_container: Container) -> None:
    code, output, errors = run_cli("undo", "no-such-run")

    assert code == 1
    assert output == ""
    assert "no run 'no-such-run'" in errors


def test_undo_with_a_conflict_exits_3(cli_container: Container) -> None:
    a_shop_with_one_fixable_row(cli_container)
    _, output, _ = run_cli("validate", "--fix", "--json")
    fixed = cli_container.my_packages.get("fixable")
    assert fixed is not None
    cli_container.my_packages.save(
        fixed.model_copy(update={"sale_price": Decimal("99.00"), "updated_at": None})
    )

    code, output, _ = run_cli("undo", json.loads(output)["autofix"]["runId"])

    assert code == 3
    assert "conflict: fixable (edited_since)" in output


# ---- the schedule ---------------------------------------------------------------------------------


@pytest.fixture
def nightly_rule(cli_container: Container) -> None:
    # As the template's Nightly event creates it (NightlyScheduleEnabled defaults to "true").
    boto3.client("events", region_name=REGION).put_rule(
        Name=RULE, ScheduleExpression="cron(0 2 * * ? *)", State="ENABLED"
    )


def rule_state() -> str:
    return boto3.client("events", region_name=REGION).describe_rule(Name=RULE)["State"]


def test_schedule_disable_enable_and_status(nightly_rule: None) -> None:
    code, output, _ = run_cli("schedule", "status", "--json")
    assert code == 0
    assert json.loads(output) == {"ruleName": RULE, "expression": "cron(0 2 * * ? *)", "enabled": True}

    code, output, _ = run_cli("schedule", "disable", "--json")
    assert code == 0 and json.loads(output)["enabled"] is False
    assert rule_state() == "DISABLED"

    code, output, _ = run_cli("schedule", "disable")
    assert code == 0 and "disabled" in output  # idempotent

    code, output, _ = run_cli("schedule", "enable")
    assert code == 0 and f"{RULE}: enabled (cron(0 2 * * ? *))" in output
    assert rule_state() == "ENABLED"


def test_schedule_status_of_a_missing_rule_fails_with_a_message(cli_container: Container) -> None:
    code, output, errors = run_cli("schedule", "status")

    assert code == 1 and output == ""
    assert RULE in errors


def test_schedule_without_a_rule_name_configured_fails_with_a_message(aws: None) -> None:
    set_container(Container(make_settings()))
    try:
        code, _, errors = run_cli("schedule", "status")
    finally:
        set_container(None)

    assert code == 1 and "SCHEDULE_RULE_NAME" in errors
