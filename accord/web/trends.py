"""Trends: findings opened and closed per month, for the whole network or one partner.

Counted here from the findings the API lists (every state, read in my own organisation
and in each shared process, each finding once); a partner sharing aggregates only lists no
records, so it has no trend here (its counts are on the overview).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from accord.platform import clock
from accord.tenants.identity.principal import Principal
from accord.web.core import signed_in_or_redirect, web_of
from accord.web.gateway import Result
from accord.web.network import load_network
from accord.web.operations import FINDINGS_OVER_TIME

MONTHS = 18
MAX_PAGES = 10  # 1,000 findings per read; more is a report, not a page
BAR_W, GAP, CHART_H, TOP, BOTTOM = 15, 8, 180, 20, 40


def _months(today: date) -> list[str]:
    year, month = today.year, today.month
    found = []
    for _ in range(MONTHS):
        found.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return found[::-1]


async def _all_findings(
    request: Request, principal: Principal, process: str | None, tenant: str | None
) -> tuple[list[dict[str, Any]], list[Result]]:
    gateway = web_of(request).gateway
    found: list[dict[str, Any]] = []
    results: list[Result] = []
    after = None
    for _ in range(MAX_PAGES):
        variables: dict[str, Any] = {"after": after, "process": process}
        if tenant:
            variables["filter"] = {"tenants": [tenant]}
        result = await gateway.run(request, principal, FINDINGS_OVER_TIME, variables)
        results.append(result)
        page = result.data.get("findings") or {}
        found += [e["node"] for e in page.get("edges") or []]
        if not (page.get("pageInfo") or {}).get("hasNextPage"):
            break
        after = page["pageInfo"]["endCursor"]
    return found, results


async def trends(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    tenant = request.query_params.get("tenant") or None
    network = await load_network(request, principal)
    processes: list[str | None] = [None, *(m["process"] for m in network.matrices)]
    reads = await asyncio.gather(*(_all_findings(request, principal, p, tenant) for p in processes))
    unique = {f["id"]: f for found, _ in reads for f in found}
    months = _months(clock.today())
    opened = dict.fromkeys(months, 0)
    closed = dict.fromkeys(months, 0)
    for finding in unique.values():
        if finding["raisedAt"][:7] in opened:
            opened[finding["raisedAt"][:7]] += 1
        if finding.get("closedAt") and finding["closedAt"][:7] in closed:
            closed[finding["closedAt"][:7]] += 1
    peak = max([*opened.values(), *closed.values(), 1])
    step = 2 * BAR_W + GAP
    bars = []
    for i, month in enumerate(months):
        for j, (kind, counts) in enumerate((("opened", opened), ("closed", closed))):
            height = round(CHART_H * counts[month] / peak)
            bars.append(
                {
                    "kind": kind,
                    "month": month,
                    "count": counts[month],
                    "x": 40 + i * step + j * BAR_W,
                    "y": TOP + CHART_H - height,
                    "h": height,
                }
            )
    chart = {
        "width": 40 + len(months) * step + 10,
        "height": TOP + CHART_H + BOTTOM,
        "base": TOP + CHART_H,
        "bar_w": BAR_W,
        "step": step,
        "months": months,
    }
    tenants = sorted(t for t in network.boards if network.level_of(t) != "AGGREGATE")
    aggregate = sorted(t for t in network.boards if network.level_of(t) == "AGGREGATE")
    results = [*network.results, *(r for _, rs in reads for r in rs)]
    return web.render(
        request,
        "trends.html",
        user=principal,
        active="trends",
        tenant=tenant,
        tenants=tenants,
        aggregate=aggregate,
        rows=[(m, opened[m], closed[m]) for m in months],
        bars=bars,
        chart=chart,
        total=len(unique),
        results=results,
        problems=[p for r in results for p in r.problems],
    )
