"""The read-only pages: overview, heat-map, findings, my work, and record details."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from accord.compliance.findings.states import FindingState, targets_from
from accord.platform import clock
from accord.tenants.identity.principal import Principal
from accord.web import heatmap
from accord.web.core import signed_in_or_redirect, web_of
from accord.web.downloads import csv_response
from accord.web.gateway import Problem, Result
from accord.web.network import (
    LEVEL_WORDS,
    load_network,
    my_letters,
    process_for_record_type,
)
from accord.web.operations import (
    AUDIT,
    CAPA,
    CLAUSES,
    FINDING,
    FINDINGS,
    HISTORY,
    NETWORK_DETAILS,
    REVIEW,
    REVIEW_BUNDLE,
    REVIEWS,
)

GRADES = (
    ("MAJOR_NONCONFORMITY", "major nonconformity"),
    ("MINOR_NONCONFORMITY", "minor nonconformity"),
    ("OBSERVATION", "observation"),
    ("OPPORTUNITY_FOR_IMPROVEMENT", "opportunity for improvement"),
)


def _edges(data: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return [e["node"] for e in (data.get(field) or {}).get("edges") or []]


async def overview(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    network = await load_network(request, principal)
    review_process = process_for_record_type(network, "management_review")
    details = await web.gateway.run(
        request, principal, NETWORK_DETAILS, {"reviewProcess": review_process}
    )
    names = {t["slug"]: t["legalName"] for t in details.data.get("tenants") or []}
    reviews = [r for r in _edges(details.data, "managementReviews") if r["status"] == "FROZEN"]
    bundles = await asyncio.gather(
        *(
            web.gateway.run(
                request,
                principal,
                REVIEW_BUNDLE,
                {
                    "reviewId": r["id"],
                    "process": process_for_record_type(network, "management_review"),
                },
            )
            for r in reviews
        )
    )
    pending: dict[str, int] = {}
    for review, bundle in zip(reviews, bundles, strict=True):
        signed = _signers(bundle)
        for person in review.get("requiredSignatories") or []:
            if (person["tenant"], person["subject"]) not in signed:
                pending[person["tenant"]] = pending.get(person["tenant"], 0) + 1
    runs = _edges(details.data, "syncRuns")
    last_sync = max((r["endedAt"] for r in runs if r.get("endedAt")), default=None)
    tiles = []
    for tenant in sorted(network.boards, key=lambda t: (t != network.tenant, t)):
        board = network.boards[tenant]
        level = network.level_of(tenant)
        by_grade = {k.upper(): v for k, v in (board.get("openByGrade") or {}).items()}
        tiles.append(
            {
                "tenant": tenant,
                "name": names.get(tenant, tenant),
                "level": level,
                "level_words": LEVEL_WORDS.get(level, "not shared"),
                "rounded_to": board.get("roundedTo"),
                "grades": [(label, by_grade.get(key, 0)) for key, label in GRADES],
                "open_total": sum(by_grade.values()),
                "overdue": board.get("overdueCapaActions"),
                "signatures_pending": pending.get(tenant, 0),
                "last_sync": last_sync if tenant == network.tenant else None,
                "processes": [p for p in network.seen_in.get(tenant, []) if p],
                "process": network.process_for(tenant),
            }
        )
    return web.render(
        request,
        "overview.html",
        user=principal,
        active="overview",
        tiles=tiles,
        results=[*network.results, details, *bundles],
        problems=[p for r in (*network.results, details) for p in r.problems],
    )


async def heat_map(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    standard = request.query_params.get("standard", heatmap.DEFAULT_STANDARD)
    if standard not in heatmap.STANDARDS:
        standard = heatmap.DEFAULT_STANDARD
    network, clauses = await asyncio.gather(
        load_network(request, principal), web.gateway.run(request, principal, CLAUSES)
    )
    everything = [
        c for alias, _ in heatmap.STANDARDS.values() for c in clauses.data.get(alias) or []
    ]
    order = sorted(network.boards, key=lambda t: (t != network.tenant, t))
    grid = heatmap.build(
        standard=standard,
        clauses=everything,
        dashboards=[network.boards[t] for t in order],
        labels={t: t for t in order},
    )
    processes = {t: network.process_for(t) for t in order}
    if request.query_params.get("format") == "csv":
        return csv_response(
            f"heatmap-{standard.replace(':', '-')}.csv",
            ["clause", "title", *(c.tenant for c in grid.columns)],
            (
                [
                    r.number,
                    r.title,
                    *(
                        "suppressed" if c.suppressed else c.counts.get(r.key, 0)
                        for c in grid.columns
                    ),
                ]
                for r in grid.rows
            ),
        )
    return web.render(
        request,
        "heatmap.html",
        user=principal,
        active="heatmap",
        grid=grid,
        svg=heatmap.svg_cells(grid),
        standards=heatmap.STANDARDS,
        standard=standard,
        processes=processes,
        results=[*network.results, clauses],
        problems=[p for r in (*network.results, clauses) for p in r.problems],
    )


async def findings(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    process = request.query_params.get("process") or None
    tenant = request.query_params.get("tenant") or None
    row = request.query_params.get("clause") or None
    filter_: dict[str, Any] = {
        "state": [s.name for s in FindingState if s is not FindingState.CLOSED]
    }
    if tenant:
        filter_["tenants"] = [tenant]
    variables = {"first": 100, "filter": filter_, "process": process}
    result = await web.gateway.run(request, principal, FINDINGS, variables)
    rows = _edges(result.data, "findings")
    clauses = None
    if row:
        clauses = await web.gateway.run(request, principal, CLAUSES)
        everything = _all_clauses(clauses)
        standard = row.split("/", 1)[0]
        placement = heatmap.Placement(everything, standard)
        rows = [f for f in rows if any(placement.row_of(k) == row for k in f["clauseKeys"])]
    results = [result] + ([clauses] if clauses else [])
    if request.query_params.get("format") == "csv":
        return csv_response(
            "findings.csv",
            [
                "reference",
                "organisation",
                "level",
                "grade",
                "state",
                "clauses",
                "response_due",
                "title",
            ],
            (
                [
                    f["reference"],
                    f["tenant"],
                    f["level"],
                    f["grade"],
                    f["state"],
                    " ".join(f["clauseKeys"]),
                    f["responseDueAt"],
                    f["title"],
                ]
                for f in rows
            ),
        )
    return web.render(
        request,
        "findings.html",
        user=principal,
        active="findings",
        findings=rows,
        tenant=tenant,
        clause=row,
        process=process,
        results=results,
        problems=result.problems,
    )


async def my_work(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    network = await load_network(request, principal)
    wanted: dict[str | None, set[str]] = {}
    owners: dict[str | None, set[str]] = {None: {principal.tenant or ""}}
    for matrix, activity, letters in my_letters(network):
        if activity["recordType"] != "finding":
            continue
        states = set()
        if "respond" in activity["actions"] and "RESPONSIBLE" in letters:
            states |= {"OPEN", "REOPENED"}
        if {"verify", "close"} & set(activity["actions"]) and {"RESPONSIBLE", "ACCOUNTABLE"} & set(
            letters
        ):
            states |= {"CAPA_IMPLEMENTED", "VERIFICATION"}
        if states:
            wanted.setdefault(matrix["process"], set()).update(states)
            owners.setdefault(matrix["process"], set()).update(
                activity["owners"] or matrix["owners"]
            )
    # What I answer for myself, in my own organisation.
    wanted.setdefault(None, set()).update({"OPEN", "REOPENED"})
    processes = list(wanted)
    review_process = process_for_record_type(network, "management_review")
    runs = await asyncio.gather(
        *(
            web.gateway.run(
                request,
                principal,
                FINDINGS,
                {"first": 100, "filter": {"state": sorted(wanted[p])}, "process": p},
            )
            for p in processes
        ),
        web.gateway.run(request, principal, REVIEWS, {"process": review_process}),
    )
    items: dict[str, dict[str, Any]] = {}
    for process, result in zip(processes, runs[:-1], strict=True):
        for finding in _edges(result.data, "findings"):
            if finding["tenant"] not in owners[process]:
                continue
            if process is None and finding.get("owner") != principal.subject:
                continue
            what = "respond" if finding["state"] in ("OPEN", "REOPENED") else "verify or close"
            items.setdefault(
                finding["id"],
                {
                    "kind": "finding",
                    "what": what,
                    "record": finding,
                    "process": process,
                    "due": finding.get("responseDueAt"),
                },
            )
    reviews = runs[-1]
    me = (principal.tenant, principal.subject)
    waiting = [
        r
        for r in _edges(reviews.data, "managementReviews")
        if r["status"] == "FROZEN"
        and me in {(p["tenant"], p["subject"]) for p in r.get("requiredSignatories") or []}
    ]
    bundles = await asyncio.gather(
        *(
            web.gateway.run(
                request, principal, REVIEW_BUNDLE, {"reviewId": r["id"], "process": review_process}
            )
            for r in waiting
        )
    )
    for review, bundle in zip(waiting, bundles, strict=True):
        if me in _signers(bundle):
            continue
        items[review["id"]] = {
            "kind": "review",
            "what": "sign",
            "record": review,
            "process": review_process,
            "due": review.get("periodEnd"),
        }
    today = clock.today().isoformat()
    ordered = sorted(items.values(), key=lambda i: (i["due"] is None, i["due"] or ""))
    return web.render(
        request,
        "mywork.html",
        user=principal,
        active="mywork",
        items=ordered,
        today=today,
        results=[*network.results, *runs, *bundles],
        problems=[p for r in runs for p in r.problems],
    )


async def finding(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    record_id = request.path_params["id"]
    process = request.query_params.get("process") or None
    result = await web.gateway.run(
        request, principal, FINDING, {"id": record_id, "process": process}
    )
    record = result.data.get("finding")
    if record is None:
        return web.refusal(request, result.problems or _not_found(), user=principal)
    history = await _history(request, principal, record)
    targets = [t.name for t in targets_from(FindingState[record["state"]])]
    return web.render(
        request,
        "finding.html",
        user=principal,
        active="findings",
        f=record,
        process=process,
        targets=targets,
        history=history,
        results=[result, *([history] if history else [])],
        problems=result.problems,
        flash=request.query_params.get("done"),
    )


async def audit(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    process = request.query_params.get("process") or None
    result = await web.gateway.run(
        request, principal, AUDIT, {"id": request.path_params["id"], "process": process}
    )
    record = result.data.get("audit")
    if record is None:
        return web.refusal(request, result.problems or _not_found(), user=principal)
    history = await _history(request, principal, record)
    return web.render(
        request,
        "audit.html",
        user=principal,
        active="findings",
        a=record,
        process=process,
        history=history,
        results=[result, *([history] if history else [])],
        problems=result.problems,
    )


async def capa(request: Request) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    process = request.query_params.get("process") or None
    result = await web.gateway.run(
        request, principal, CAPA, {"id": request.path_params["id"], "process": process}
    )
    record = result.data.get("capa")
    if record is None:
        return web.refusal(request, result.problems or _not_found(), user=principal)
    history = await _history(request, principal, record)
    return web.render(
        request,
        "capa.html",
        user=principal,
        active="findings",
        c=record,
        process=process,
        history=history,
        results=[result, *([history] if history else [])],
        problems=result.problems,
    )


async def review(request: Request) -> Response:
    """A management review as its signatories read it: the signed-review bundle (content,
    digest, signatures); the record's own fields too where its owner shares them."""
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    process = request.query_params.get("process") or None
    variables = {"id": request.path_params["id"], "process": process}
    record, bundle = await asyncio.gather(
        web.gateway.run(request, principal, REVIEW, variables),
        web.gateway.run(
            request, principal, REVIEW_BUNDLE, {"reviewId": variables["id"], "process": process}
        ),
    )
    content = bundle.data.get("signedReviewBundle")
    if content is None:
        return web.refusal(request, bundle.problems or _not_found(), user=principal)
    signed = {
        (s["signer"]["tenant"], s["signer"]["subject"]): s
        for s in content.get("signatures") or []
        if not s.get("superseded_at")
    }
    document = content["document"]
    signatories = [
        {**p, "signature": signed.get((p["tenant"], p["subject"]))}
        for p in document.get("required_signatories") or []
    ]
    me = (principal.tenant, principal.subject)
    waiting_for_me = any(
        (p["tenant"], p["subject"]) == me and p["signature"] is None for p in signatories
    )
    return web.render(
        request,
        "review.html",
        user=principal,
        active="mywork",
        r=record.data.get("managementReview"),
        content=content,
        document=document,
        review_id=variables["id"],
        process=process,
        signatories=signatories,
        may_sign=waiting_for_me and content["review"]["status"] == "frozen",
        results=[bundle, record],
        problems=[],
        flash=request.query_params.get("done"),
    )


async def _history(request: Request, principal: Principal, record: dict[str, Any]) -> Result | None:
    """The record's event log, for its own organisation's members (the API's rule)."""
    if record["tenant"] != principal.tenant:
        return None
    return await web_of(request).gateway.run(request, principal, HISTORY, {"id": record["id"]})


def _signers(bundle: Result) -> set[tuple[str, str]]:
    """Who has signed the bundle's review (signatures still in force)."""
    return {
        (s["signer"]["tenant"], s["signer"]["subject"])
        for s in (bundle.data.get("signedReviewBundle") or {}).get("signatures") or []
        if not s.get("superseded_at")
    }


def _all_clauses(result: Result) -> list[dict[str, Any]]:
    return [c for alias, _ in heatmap.STANDARDS.values() for c in result.data.get(alias) or []]


def _not_found() -> list[Problem]:
    return [Problem(code="NOT_FOUND", message="Not found")]
