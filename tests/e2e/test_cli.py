"""The `roamsync` CLI against the local stack's DynamoDB and simulator, found through the
environment (AWS_ENDPOINT_URL_DYNAMODB, ROAMIFY_BASE_URL) exactly as an operator's shell would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from roamsync_dev.cli import main
from roamsync_dev.local_stack import LocalStack

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout  # logs go to stderr


def sync_runs(stack: LocalStack) -> list[dict]:
    client = stack.dynamodb_client()
    items = client.scan(TableName=stack.table_names["RunsTable"])["Items"]
    return [json.loads(i["record"]["S"]) for i in items if i["kind"]["S"] == "sync"]


@pytest.mark.parametrize(
    "command",
    [[], ["sync"], ["status"], ["invoke"], ["local"], ["sim"], ["sim", "fault"], ["sim", "fault", "socket"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    code, output = run_cli(*command, "--help")
    assert code == 0
    assert "Usage:" in output


def test_sync_json_writes_a_cli_run_into_the_configured_dynamodb(local_stack: LocalStack) -> None:
    before = len(sync_runs(local_stack))

    code, output = run_cli("sync", "--json")

    body = json.loads(output)
    assert code == 0
    assert body["status"] == "succeeded" and body["trigger"] == "cli"
    runs = sync_runs(local_stack)
    assert len(runs) == before + 1
    assert any(r["run_id"] == body["runId"] for r in runs)


def test_sync_dry_run_reports_the_plan_and_records_nothing(local_stack: LocalStack) -> None:
    before = len(sync_runs(local_stack))
    local_stack.simulator.change_prices(local_stack.simulator.package_ids()[:4], delta=1.0)

    code, output = run_cli("sync", "--dry-run", "--json")

    body = json.loads(output)
    assert code == 0
    assert body["status"] == "dry_run"
    assert body["planned"]["updated"] == 4 and body["counts"]["updated"] == 0
    assert len(sync_runs(local_stack)) == before


def test_a_refused_sync_exits_2_and_says_why(local_stack: LocalStack) -> None:
    removed = local_stack.simulator.remove_fraction(0.6, seed=5)
    try:
        code, output = run_cli("sync")
    finally:
        local_stack.simulator.restore_packages(removed)
    assert code == 2
    assert "refused" in output and "deactivation_ratio_exceeded" in output


def test_a_sync_whose_run_record_cannot_be_written_exits_4_with_its_summary(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roamsync.adapters.dynamo import RunRepository
    from roamsync.domain.errors import StorageError
    from roamsync.domain.runs import ABANDONED, RUN_LEASE, Run

    real_save = RunRepository.save
    saves: list[str] = []

    def save(self: RunRepository, run: Run) -> None:
        saves.append(run.status.value)
        if len(saves) == 2:  # the finishing record, refused past the SDK's retries
            raise StorageError("PutItem on Runs failed: throughput exceeded")
        real_save(self, run)

    monkeypatch.setattr(RunRepository, "save", save)
    code, output = run_cli("sync", "--json")
    monkeypatch.setattr(RunRepository, "save", real_save)

    body = json.loads(output)
    assert code == 4
    assert (body["status"], body["recorded"]) == ("succeeded", False)
    [stored] = [r for r in sync_runs(local_stack) if r["run_id"] == body["runId"]]
    assert stored["status"] == "running"
    # the first read after the lease settles it, so the runs after this test see it finished
    late = RunRepository(clock=lambda: datetime.now(UTC) + RUN_LEASE + timedelta(minutes=1))
    settled = late.get(body["runId"])
    assert settled is not None and (settled.status.value, settled.reason) == ("failed", ABANDONED)
    [stored] = [r for r in sync_runs(local_stack) if r["run_id"] == body["runId"]]
    assert stored["status"] == "failed"


def test_status_lists_the_latest_sync_runs(local_stack: LocalStack) -> None:
    run_cli("sync")

    code, output = run_cli("status", "--json", "--limit", "2")

    runs = json.loads(output)["syncRuns"]
    assert code == 0
    assert len(runs) == 2
    assert runs[0]["startedAt"] >= runs[1]["startedAt"]


def test_invoke_runs_a_template_function_with_an_event_file(local_stack: LocalStack) -> None:
    code, output = run_cli("invoke", "SyncFunction", "-e", str(REPO / "events" / "schedule.json"))

    body = json.loads(output)
    assert code == 0
    assert body["trigger"] == "schedule" and body["status"] == "succeeded"


def test_invoke_refuses_an_unknown_function(local_stack: LocalStack) -> None:
    result = CliRunner().invoke(
        main, ["invoke", "NoSuchFunction", "-e", str(REPO / "events" / "schedule.json")]
    )
    assert result.exit_code == 2
    assert "unknown function" in result.output


def test_the_local_stack_has_the_nightly_rule_that_schedule_commands_toggle(local_stack: LocalStack) -> None:
    code, output = run_cli("schedule", "status", "--json")
    assert code == 0
    assert json.loads(output)["expression"] == "cron(0 2 * * ? *)"

    run_cli("schedule", "disable")
    code, output = run_cli("schedule", "status", "--json")

    assert json.loads(output)["enabled"] is False
    run_cli("schedule", "enable")


def test_sim_with_local_drives_the_stacks_own_simulator(
    local_stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the state file the stack writes for the CLI, in a fresh working directory
    state = local_stack.state()
    assert state["simulatorUrl"] == local_stack.simulator_url is not None
    assert state["simulatorUrl"] != local_stack.gateway_url
    assert f"simulator     {state['simulatorUrl']}/_sim/" in local_stack.banner()
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(json.dumps(state))
    monkeypatch.chdir(tmp_path)
    chosen = local_stack.simulator.package_ids()[:2]

    # when the CLI removes two packages from the local stack's Roamify
    code, output = run_cli("--local", "sim", "remove", *chosen, "--json")
    try:
        # then the simulator no longer lists them, and says so
        assert (code, json.loads(output)) == (0, {"removed": chosen})
        assert not set(chosen) & set(local_stack.simulator.package_ids())
        code, output = run_cli("--local", "sim", "packages", "--removed")
        assert output.split() == chosen
    finally:
        run_cli("--local", "sim", "restore", *chosen)
    assert set(chosen) <= set(local_stack.simulator.package_ids())
