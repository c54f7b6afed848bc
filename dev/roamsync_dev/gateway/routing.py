"""Matching a request to a template route the way API Gateway picks a resource."""

from __future__ import annotations

import re
from dataclasses import dataclass

from roamsync_dev.template import ApiRoute


@dataclass(frozen=True)
class CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    # Static segments before {param} before {proxy+}: API Gateway picks the most specific resource.
    rank: tuple[int, ...]


def _compile(route: ApiRoute) -> CompiledRoute:
    parts: list[str] = []
    params: list[str] = []
    rank: list[int] = []
    for segment in route.path.strip("/").split("/") if route.path.strip("/") else []:
        greedy = re.fullmatch(r"\{(.+)\+\}", segment)
        param = re.fullmatch(r"\{(.+)\}", segment)
        if greedy:
            parts.append(f"(?P<p{len(params)}>.+)")
            params.append(greedy.group(1))
            rank.append(2)
        elif param:
            parts.append(f"(?P<p{len(params)}>[^/]+)")
            params.append(param.group(1))
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return CompiledRoute(route, re.compile("/" + "/".join(parts)), tuple(params), tuple(rank))


def compile_routes(routes: list[ApiRoute]) -> list[CompiledRoute]:
    """The routes, most specific resource first."""
    return sorted((_compile(r) for r in routes), key=lambda c: c.rank)


def match_route(
    compiled_routes: list[CompiledRoute], method: str, path: str
) -> tuple[CompiledRoute | None, dict[str, str], list[str]]:
    """The route for METHOD path, its path parameters, and the methods the matched resource allows."""
    matches: list[tuple[CompiledRoute, re.Match[str]]] = []
    for compiled in compiled_routes:
        found = compiled.pattern.fullmatch(path)
        if found:
            matches.append((compiled, found))
    if not matches:
        return None, {}, []
    best_rank = matches[0][0].rank
    resource = matches[0][0].route.path
    same_resource = [(c, m) for c, m in matches if c.route.path == resource and c.rank == best_rank]
    allowed = sorted({c.route.method for c, _ in same_resource})
    for compiled, found in same_resource:
        if compiled.route.method in (method, "ANY"):
            params = {name: found.group(f"p{i}") for i, name in enumerate(compiled.params)}
            return compiled, params, allowed
    return None, {}, allowed
