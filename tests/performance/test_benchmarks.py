"""`make bench`'s scripts, run end to end at a tiny size so that they cannot rot between two records.

Each runs as an operator would run it (`python -m roamsync_dev.<script>`, its own moto server and
simulator) and its printed table is checked for the figures that do not depend on the machine:
request and item counts, duplicates, the presence of every row. Timings are not asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def run_script(module: str, *args: str, timeout: float = 180) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ROAMIFY_"))}
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert result.returncode == 0, (
        f"{module} exited {result.returncode}:\n{result.stdout}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def row(table: str, scenario: str, approach: str) -> list[str]:
    [line] = [line for line in table.splitlines() if line.startswith(f"{scenario:<14} {approach:<9}")]
    return line[25:].split()


def test_the_sync_benchmark_compares_with_the_naive_approach() -> None:
    table = run_script("roamsync_dev.bench", "--size", "200")

    # pkg items written, roamify requests, seconds, peak MiB, +MiB, then the DynamoDB requests
    assert row(table, "first sync", "roamsync")[0] == row(table, "first sync", "naive")[0] == "200"
    assert row(table, "first sync", "roamsync")[5:] == ["BatchWriteItem=8", "PutItem=2", "Scan=1"]
    assert row(table, "no-op resync", "roamsync")[0] == "0"
    assert row(table, "no-op resync", "naive")[0] == "200"
    assert row(table, "1% changed", "roamsync")[0] == "2"
    assert "DeleteItem=200 PutItem=200" in " ".join(row(table, "1% changed", "naive"))
    assert float(row(table, "no-op resync", "roamsync")[3]) > 50  # a whole process's resident set
    assert "  1% changed     fetched 200, inserted 0, updated 2, unchanged 198, deactivated 0" in table


def test_the_checkout_benchmark_prints_every_scenario() -> None:
    table = run_script(
        "roamsync_dev.bench_checkout", "--size", "120", "--requests", "5", "--block-requests", "3"
    )

    for scenario in ("in-process hit", "table hit", "miss, proceed", "miss, block"):
        assert re.search(rf"^{re.escape(scenario)}\s+\d+ ", table, re.M), scenario
    assert re.search(r"^in-process hit\s+5 proceed \(cached\)\s+1\.00\s+1\.00\s+0\.00 ", table, re.M), table
    assert "an index on region alone would return all" in table


def test_the_order_benchmark_and_soak_find_no_duplicate() -> None:
    table = run_script("roamsync_dev.bench_orders", "--orders", "10", "--size", "120", "--rates", "0,0.5")
    assert "every key sent again: each answered 200 with its order, nothing placed" in table

    soak = run_script("roamsync_dev.soak_orders", "--orders", "60", "--size", "120", "--time-cap", "60")
    assert "duplicate orders 0, downgraded orders 0, overpriced orders 0, stray upstream orders 0" in soak
    assert soak.rstrip().endswith("PASS")


def test_the_cold_start_probe_measures_a_handler_against_its_floor() -> None:
    # One run each and a limit no machine misses: this checks the probe works, not the figure.
    table = run_script("roamsync_dev.coldstart", "--repeat", "1", "--limit", "100", "authorizer")
    assert re.search(r"^authorizer\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\dx", table, re.M), table


def test_the_crawl_benchmark_reads_the_whole_catalog_at_each_concurrency() -> None:
    table = run_script(
        "roamsync_dev.bench_crawl", "--size", "300", "--delay", "0.01", "--concurrency", "1", "3"
    )
    # The Roamify client logs its retries as JSON lines on stdout, between the table's lines.
    lines = [line for line in table.splitlines() if not line.startswith("{")]
    assert lines[0].startswith("catalog crawl benchmark: 300 packages")
    rows = {int(line.split()[0]): line.split() for line in lines[2:]}
    assert sorted(rows) == [1, 3]
    # The same pages and packages whatever the concurrency: the result does not depend on page order.
    assert rows[1][1:3] == rows[3][1:3] and int(rows[1][2]) == 300
    for workers, (_, pages, _, _, limit, _) in rows.items():
        assert float(limit) == round(int(pages) * 0.01 / workers, 2)
