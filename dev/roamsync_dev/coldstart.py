"""`python -m roamsync_dev.coldstart`: each handler's import time against its third-party floor.

Not a test: it prints figures. For every `functions/<name>/app.py`, in a fresh interpreter each time
(`python -X importtime`, the handler's folder and the layer on `sys.path`, as in Lambda):

  handler   importing the handler module (`import app`): what a cold start's init pays
  floor     importing only the third-party modules that first-party code (the handler and the
            roamsync layer) imports itself, in the same order: what the handler cannot avoid
            unless it stops needing them (Powertools' resolver, pydantic, pydantic-settings, ...)

Time is the sum of the top-level `cumulative` figures `-X importtime` reports, leaving out what the
interpreter imports before the first line runs. Each is the median of `--repeat` runs, handler and
floor interleaved. The ratio is the cost of roamsync's own module-level code; the heavy column names
the expensive dependencies (requests, pynamodb, boto3, X-Ray) a handler loads at import, which a
handler should load on first use instead. A ratio above `--limit` (1.3) exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "common"
FIRST_PARTY = {"roamsync", "app"}
# Dependencies a handler should not load at init unless its import needs them. (Not botocore:
# Powertools imports it itself, for its user-agent hook, so every handler's floor holds it.)
HEAVY = ("requests", "urllib3", "pynamodb", "boto3", "aws_xray_sdk")


@dataclass(frozen=True)
class Figures:
    handler: str
    floor_modules: tuple[str, ...]
    heavy_loaded: tuple[str, ...]
    handler_ms: float
    floor_ms: float
    handler_cpu_ms: float  # the interpreter's CPU time, less a bare interpreter's
    floor_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.handler_ms / self.floor_ms if self.floor_ms else float("inf")

    @property
    def cpu_ratio(self) -> float:
        return self.handler_cpu_ms / self.floor_cpu_ms if self.floor_cpu_ms > 0 else float("inf")


def _importtime_lines(code: str, handler_dir: Path) -> list[tuple[int, int, str]]:
    """(depth, cumulative microseconds, module) per line of one fresh `python -X importtime -c code`,
    in the order Python prints them (a module after the modules it imported)."""
    return _run(code, handler_dir)[0]


def _run(code: str, handler_dir: Path) -> tuple[list[tuple[int, int, str]], float]:
    """`_importtime_lines`, and the CPU seconds (user + system) the interpreter used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(handler_dir), str(LAYER)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code string
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        cwd=handler_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        lines.append((depth, int(cumulative), name.strip()))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return lines, cpu


def _first_party(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in FIRST_PARTY


def third_party_dependencies(lines: list[tuple[int, int, str]], startup: set[str]) -> tuple[str, ...]:
    """The third-party modules first-party code (the handler, the roamsync layer) imports itself,
    in import order: importing just these is the floor."""
    stdlib = set(sys.stdlib_module_names)
    parents: list[str | None] = [None] * len(lines)
    pending: list[int] = []  # indexes of lines whose importer has not been printed yet
    for index, (depth, _, name) in enumerate(lines):
        while pending and lines[pending[-1]][0] > depth:
            parents[pending.pop()] = name
        pending.append(index)
    found: list[str] = []
    for (_, _, name), parent in zip(lines, parents, strict=True):
        top = name.split(".")[0]
        if top in stdlib or _first_party(name) or name in startup or name in found:
            continue
        if parent is not None and _first_party(parent):
            found.append(name)
    return tuple(found)


def _measure(code: str, handler_dir: Path, startup: set[str]) -> tuple[float, float]:
    """Milliseconds: the top-level imports of `code` the bare interpreter does not already make
    (importtime's wall clock), and the interpreter's CPU time."""
    lines, cpu = _run(code, handler_dir)
    wall = sum(us for depth, us, name in lines if depth == 0 and name not in startup) / 1000
    return wall, cpu * 1000


def measure(handler_dir: Path, repeat: int) -> Figures:
    startup = {name for _, _, name in _importtime_lines("pass", handler_dir)}
    handler_lines = _importtime_lines("import app", handler_dir)
    floor_modules = third_party_dependencies(handler_lines, startup)
    loaded = {name.split(".")[0] for _, _, name in handler_lines}
    floor_code = "; ".join(f"import {m}" for m in floor_modules) or "pass"
    handler_runs, floor_runs, bare_runs = [], [], []
    for _ in range(repeat):  # interleaved, so a burst of load on the machine hits both alike
        handler_runs.append(_measure("import app", handler_dir, startup))
        floor_runs.append(_measure(floor_code, handler_dir, startup))
        bare_runs.append(_measure("pass", handler_dir, startup))
    bare_cpu = statistics.median(cpu for _, cpu in bare_runs)
    return Figures(
        handler=handler_dir.name,
        floor_modules=floor_modules,
        heavy_loaded=tuple(m for m in HEAVY if m in loaded),
        handler_ms=statistics.median(ms for ms, _ in handler_runs),
        floor_ms=statistics.median(ms for ms, _ in floor_runs),
        handler_cpu_ms=statistics.median(cpu for _, cpu in handler_runs) - bare_cpu,
        floor_cpu_ms=statistics.median(cpu for _, cpu in floor_runs) - bare_cpu,
    )


def report(results: list[Figures], repeat: int, limit: float) -> str:
    tracing = os.environ.get("POWERTOOLS_TRACE_DISABLED", "(unset)")
    lines = [
        "roamsync cold start: each handler's import against importing just its third-party dependencies",
        f"`python -X importtime`, a fresh interpreter per run, median of {repeat}; "
        f"taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, "
        f"POWERTOOLS_TRACE_DISABLED={tracing}",
        "",
        f"{'handler':<11} {'import ms':>9} {'floor ms':>9} {'ratio':>6}  {'CPU ms':>7} {'floor':>7} "
        f"{'ratio':>6}  heavy modules loaded at import",
    ]
    for f in results:
        mark = "" if f.ratio <= limit else f"  OVER {limit}x"
        heavy = ", ".join(f.heavy_loaded) or "none"
        figures = (
            f"{f.handler_ms:>9.1f} {f.floor_ms:>9.1f} {f.ratio:>5.2f}x  "
            f"{f.handler_cpu_ms:>7.1f} {f.floor_cpu_ms:>7.1f} {f.cpu_ratio:>5.2f}x"
        )
        lines.append(f"{f.handler:<11} {figures}  {heavy}{mark}")
    lines += ["", "floor = importing just these (what roamsync's code and the handler import themselves):"]
    lines += [f"  {f.handler:<11} {', '.join(f.floor_modules)}" for f in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=9, help="fresh interpreters per figure")
    parser.add_argument("--limit", type=float, default=1.3, help="highest acceptable handler/floor ratio")
    parser.add_argument("handlers", nargs="*", help="function folder names (default: all)")
    args = parser.parse_args(argv)
    names = args.handlers or sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))
    results = [measure(FUNCTIONS / name, args.repeat) for name in names]
    print(report(results, args.repeat, args.limit))
    return 0 if all(f.ratio <= args.limit for f in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
