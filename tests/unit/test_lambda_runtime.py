"""The in-process Lambda runtime runs each concurrent invocation in a module copy of its own, as Lambda
runs one invocation per container at a time; an idle copy is reused, as a warm container is."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from roamsync_dev import lambda_runtime

HANDLER = """
calls = 0
current = None


def handler(event, context):
    global calls, current
    calls += 1
    current = event["id"]
    barrier = event.get("barrier")
    if barrier is not None:
        barrier.wait()
    return {"id": current, "calls": calls}
"""


@pytest.fixture()
def template(tmp_path: Path) -> dict[str, Any]:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(HANDLER, encoding="utf-8")
    return {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": str(code), "Handler": "app.handler", "Timeout": 5},
            }
        }
    }


def test_two_invocations_at_once_each_get_their_own_answer(template: dict[str, Any]) -> None:
    barrier = threading.Barrier(2, timeout=10)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda n: lambda_runtime.invoke("Fn", {"id": n, "barrier": barrier}, template), (1, 2))
        )

    assert [a["id"] for a in answers] == [1, 2]
    assert [a["calls"] for a in answers] == [1, 1]
    assert lambda_runtime.containers_started("Fn", template) == 2


def test_one_invocation_after_another_reuses_the_warm_container(template: dict[str, Any]) -> None:
    first = lambda_runtime.invoke("Fn", {"id": 1}, template)
    second = lambda_runtime.invoke("Fn", {"id": 2}, template)

    assert (first, second) == ({"id": 1, "calls": 1}, {"id": 2, "calls": 2})
    assert lambda_runtime.containers_started("Fn", template) == 1
    # load_module hands out the container sequential invocations run in, so a test can patch it.
    assert lambda_runtime.load_module("Fn", template).calls == 2


def test_a_container_freed_by_a_finished_invocation_serves_the_next(template: dict[str, Any]) -> None:
    barrier = threading.Barrier(2, timeout=10)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda n: lambda_runtime.invoke("Fn", {"id": n, "barrier": barrier}, template), (1, 2)))
    for n in range(3, 6):
        lambda_runtime.invoke("Fn", {"id": n}, template)

    assert lambda_runtime.containers_started("Fn", template) == 2
