"""CAPAs and their actions from a source: bulk upsert per page by (source_system, external_id).

Like ``FindingSink``: an unchanged record (same content hash) writes nothing; ``check`` adds
the reasons that need the database, and a record with reasons goes to quarantine whole.
Parents are named by source key (``accord.compliance.capa.sourced``) and resolved in
``check``; an unknown one is ``UNKNOWN_PARENT``, so a replay once the parent has synced
applies the record. An action whose CAPA does not exist yet but whose finding does (an ERP
task of a notification: one CAPA per notification) makes that CAPA from the finding.

A new CAPA starts in the first state of the CAPA machine; the source's status is followed
through the life cycle service, refusals logged (``capa_parents``). A root cause is settled
once the CAPA is implemented (``set_root_cause`` refuses then): a changed analysis is kept
out of the row and ``capa.source_root_cause`` records it. A register's row carries its
CAPA's one action, written in the same statement batch: the row is all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, ClassVar, cast

from psycopg.types.json import Jsonb
from sqlalchemy import Boolean, Table, func, literal_column
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import ActionStatus, Capa, CapaAction
from accord.compliance.capa.sourced import SourcedActionIn, SourcedCapaIn
from accord.compliance.capa.states import CapaState
from accord.connectors.sync.capa_parents import (
    INITIAL_STATE,
    ROOT_CAUSE_OPEN,
    ExistingCapa,
    ParentFinding,
    find_capas,
    find_findings,
    follow_action_completion,
    follow_source_state,
    link_findings,
    log_settled_root_cause,
    make_capas,
    session_tenant,
)
from accord.connectors.sync.events import PendingEvent, append_events
from accord.connectors.sync.sinks import (
    Applied,
    Candidate,
    Sink,
    reason,
    taken_references,
    unknown_clauses,
)

#: The action a register keeps on its CAPA's row is stored as ``<CAPA external id>/action``.
ACTION_SUFFIX = "/action"


def _due_before(due_at: date | None, raised: list[date]) -> dict[str, Any] | None:
    if due_at is None or not raised or due_at >= min(raised):
        return None
    return reason(
        "due_at",
        "DUE_BEFORE_FINDING_RAISED",
        f"due {due_at}, before the earliest finding was raised ({min(raised)})",
    )


class CapaSink(Sink):
    record_type = "capa"
    schema = SourcedCapaIn
    table: ClassVar[Table] = Capa.__table__  # type: ignore[assignment]
    keep_on_update = frozenset({"id", "created_at", "created_by", "state"})

    def __init__(self, source_system: str) -> None:
        self.source_system = source_system
        self._page(tenant="")

    def _page(self, *, tenant: str) -> None:
        """Forget the page before: what ``check`` learns serves this page's writes only."""
        self._tenant = tenant
        self._parents: dict[str, list[ParentFinding]] = {}
        self._existing: dict[str, ExistingCapa] = {}
        self._settled: set[str] = set()  # changed analysis not applied: root cause settled
        self._actions: dict[str, uuid.UUID] = {}  # CAPA external id -> its action's id

    async def check(self, session: AsyncSession, candidates: Sequence[Candidate]) -> None:
        self._page(tenant=await session_tenant(session))
        data = [(c, c.external_id or "", cast(SourcedCapaIn, c.model)) for c in candidates]
        systems = [d.finding_source_system or self.source_system for _, _, d in data]
        findings = await find_findings(
            session,
            {
                (s, e)
                for s, (_, _, d) in zip(systems, data, strict=True)
                for e in d.finding_external_ids
            },
        )
        unknown = await unknown_clauses(session, {k for _, _, d in data for k in d.clause_keys})
        taken = await taken_references(
            session, self.table, self.source_system, [(d.reference, key) for _, key, d in data]
        )
        existing = await find_capas(session, self.source_system, (key for _, key, _ in data))
        holder: dict[str, str] = {}  # reference -> the first key in this page that uses it
        for system, (c, key, d) in zip(systems, data, strict=True):
            missing = [e for e in d.finding_external_ids if (system, e) not in findings]
            if missing:
                named = ", ".join(f"{system}/{e}" for e in missing)
                c.reasons.append(
                    reason("finding_external_ids", "UNKNOWN_PARENT", f"no finding {named} (yet)")
                )
            parents = [findings[(system, e)] for e in d.finding_external_ids if e not in missing]
            unknown_here = [k for k in d.clause_keys if k in unknown]
            if unknown_here:
                c.reasons.append(
                    reason(
                        "clause_keys",
                        "UNKNOWN_CLAUSE",
                        f"not in the catalog: {', '.join(unknown_here)}",
                    )
                )
            if d.reference in taken or holder.setdefault(d.reference, key) != key:
                c.reasons.append(
                    reason(
                        "reference",
                        "DUPLICATE_REFERENCE",
                        f"{d.reference!r} belongs to another CAPA",
                    )
                )
            if d.title is None and not d.finding_external_ids:
                c.reasons.append(
                    reason("title", "REQUIRED", "no title and no finding to take it from")
                )
            capa = existing.get(key)
            raised = [p.raised_on for p in parents]
            if capa is not None and capa.earliest_finding is not None:
                raised.append(capa.earliest_finding)
            too_early = _due_before(d.due_at, raised)
            if too_early:
                c.reasons.append(too_early)
            if d.owner is not None and capa is not None and capa.verifier_tenant == self._tenant:
                c.reasons.append(
                    reason(
                        "owner",
                        "VERIFIER_NOT_INDEPENDENT",
                        "the CAPA's verifier would own its action",
                    )
                )
            self._parents[key] = parents
            if capa is not None:
                self._existing[key] = capa

    def _title(self, key: str, data: SourcedCapaIn) -> str:
        return data.title or self._parents[key][0].title

    def row(self, candidate: Candidate, *, actor: str, now: datetime) -> dict[str, Any]:
        data = cast(SourcedCapaIn, candidate.model)
        key = candidate.external_id or ""
        parents = self._parents[key]
        analysis = data.analysis(self._title(key, data))
        method: str | None = analysis.method if analysis else None
        stored = analysis.model_dump(mode="json", exclude_none=True) if analysis else None
        capa = self._existing.get(key)
        if capa is not None and capa.state not in ROOT_CAUSE_OPEN:
            if (method, stored) != (capa.method, capa.analysis):
                self._settled.add(key)
            method, stored = capa.method, capa.analysis
        clauses = data.clause_keys or list(dict.fromkeys(k for p in parents for k in p.clause_keys))
        return {
            "source_system": data.source_system,
            "external_id": data.external_id,
            "fetched_at": data.fetched_at,
            "content_hash": data.content_hash,
            "created_by": actor,
            "updated_by": actor,
            "reference": data.reference,
            "title": self._title(key, data),
            "clause_keys": clauses,
            "root_cause_method": method,
            "root_cause_analysis": None if stored is None else Jsonb(stored),
            "containment": data.containment,
            "state": INITIAL_STATE.value,
        }

    async def upsert(
        self, session: AsyncSession, candidates: Sequence[Candidate], *, actor: str
    ) -> list[Applied]:
        applied = await super().upsert(session, candidates, actor=actor)
        await self._upsert_actions(session, [a for a in applied if _data(a).owner], actor)
        return applied

    async def _upsert_actions(
        self, session: AsyncSession, applied: Sequence[Applied], actor: str
    ) -> None:
        if not applied:
            return
        rows: dict[uuid.UUID, dict[str, Any]] = {}  # by CAPA id
        for item in applied:
            data = _data(item)
            rows[item.id] = {
                "id": uuid.uuid4(),
                "source_system": data.source_system,
                "external_id": item.external_id + ACTION_SUFFIX,
                "fetched_at": data.fetched_at,
                "content_hash": data.content_hash,
                "created_by": actor,
                "updated_by": actor,
                "capa_id": item.id,
                "title": data.action_title or self._title(item.external_id, data),
                "owner": data.owner,
                "owner_tenant": self._tenant,
                "due_at": data.due_at,
                "status": ActionStatus.OPEN.value,
            }
        insert = pg_insert(CapaAction).values(list(rows.values()))
        changing = [
            "fetched_at",
            "content_hash",
            "updated_by",
            "title",
            "owner",
            "owner_tenant",
            "due_at",
        ]
        written = await session.execute(
            insert.on_conflict_do_update(
                index_elements=["source_system", "external_id"],
                set_={**{k: insert.excluded[k] for k in changing}, "updated_at": func.now()},
            ).returning(CapaAction.id, CapaAction.capa_id, literal_column("xmax = 0", Boolean))
        )
        events: list[PendingEvent] = []
        for action_id, capa_id, created in written:
            row = rows[capa_id]
            self._actions[row["external_id"].removesuffix(ACTION_SUFFIX)] = action_id
            change = {k: v for k, v in row.items() if k not in ("id", "fetched_at")}
            change.update(capa_id=str(capa_id), due_at=str(row["due_at"]))
            kind = "imported" if created else "source_changed"
            events.append((f"capa_action.{kind}", "capa_action", str(action_id), change))
        await append_events(session, actor=actor, events=events)

    async def after_upsert(
        self, session: AsyncSession, applied: Sequence[Applied], *, actor: str
    ) -> None:
        await link_findings(
            session,
            links={item.id: self._parents[item.external_id] for item in applied},
            created={item.id for item in applied if item.created},
            actor=actor,
        )
        await follow_action_completion(
            session,
            actions={
                self._actions[item.external_id]: _data(item).completed_at
                for item in applied
                if item.external_id in self._actions
            },
            actor=actor,
            source_system=self.source_system,
        )
        for item in applied:
            if item.external_id in self._settled:
                await log_settled_root_cause(
                    session, capa_id=item.id, actor=actor, source_system=self.source_system
                )
            wanted = item.candidate.state
            if wanted is not None and wanted != item.state:
                await follow_source_state(
                    session,
                    capa_id=item.id,
                    wanted=wanted,
                    actor=actor,
                    source_system=self.source_system,
                )


def _data(item: Applied) -> SourcedCapaIn:
    return cast(SourcedCapaIn, item.candidate.model)


class CapaActionSink(Sink):
    record_type = "capa_action"
    schema = SourcedActionIn
    table: ClassVar[Table] = CapaAction.__table__  # type: ignore[assignment]
    keep_on_update = frozenset(
        {"id", "created_at", "created_by", "capa_id", "status", "completed_at", "completed_by"}
    )

    def __init__(self, source_system: str) -> None:
        self.source_system = source_system
        self._page(tenant="")

    def _page(self, *, tenant: str) -> None:
        self._tenant = tenant
        self._to_make: dict[str, tuple[str, ParentFinding]] = {}  # CAPA key -> (ref, finding)
        self._capa_ids: dict[str, uuid.UUID] = {}

    async def check(self, session: AsyncSession, candidates: Sequence[Candidate]) -> None:
        self._page(tenant=await session_tenant(session))
        data = [(c, cast(SourcedActionIn, c.model)) for c in candidates]
        capas = await find_capas(session, self.source_system, (d.capa_external_id for _, d in data))
        orphans = [d for _, d in data if d.capa_external_id not in capas]
        findings = await find_findings(
            session,
            {
                (self._finding_system(d), d.finding_external_id)
                for d in orphans
                if d.finding_external_id
            },
        )
        taken = await taken_references(
            session,
            cast(Table, Capa.__table__),
            self.source_system,
            [(d.capa_reference, d.capa_external_id) for d in orphans if d.capa_reference],
        )
        known = await self.existing_hashes(
            session, self.source_system, [c.external_id or "" for c, _ in data]
        )
        for c, d in data:
            capa = capas.get(d.capa_external_id)
            if capa is not None:
                self._capa_ids[d.capa_external_id] = capa.id
                if capa.state is CapaState.CLOSED and c.external_id not in known:
                    c.reasons.append(
                        reason("capa_external_id", "CAPA_CLOSED", "the CAPA is closed")
                    )
                if capa.verifier_tenant == self._tenant:
                    c.reasons.append(
                        reason(
                            "owner_tenant",
                            "VERIFIER_NOT_INDEPENDENT",
                            "the CAPA's verifier would own it",
                        )
                    )
                raised = [capa.earliest_finding] if capa.earliest_finding else []
            else:
                finding = findings.get((self._finding_system(d), d.finding_external_id or ""))
                if finding is None or d.capa_reference is None:
                    parent = f"{self._finding_system(d)}/{d.finding_external_id}"
                    c.reasons.append(
                        reason(
                            "capa_external_id",
                            "UNKNOWN_PARENT",
                            f"no CAPA {d.capa_external_id}, nor finding {parent} to make one (yet)",
                        )
                    )
                    continue
                if d.capa_reference in taken:
                    c.reasons.append(
                        reason(
                            "capa_reference",
                            "DUPLICATE_REFERENCE",
                            f"{d.capa_reference!r} belongs to another CAPA",
                        )
                    )
                    continue
                self._to_make[d.capa_external_id] = (d.capa_reference, finding)
                raised = [finding.raised_on]
            too_early = _due_before(d.due_at, raised)
            if too_early:
                c.reasons.append(too_early)

    def _finding_system(self, data: SourcedActionIn) -> str:
        return data.finding_source_system or self.source_system

    async def upsert(
        self, session: AsyncSession, candidates: Sequence[Candidate], *, actor: str
    ) -> list[Applied]:
        wanted = {cast(SourcedActionIn, c.model).capa_external_id for c in candidates}
        plans = {k: v for k, v in self._to_make.items() if k in wanted}
        await make_capas(session, source_system=self.source_system, plans=plans, actor=actor)
        made = await find_capas(session, self.source_system, plans)
        self._capa_ids.update({k: capa.id for k, capa in made.items()})
        return await super().upsert(session, candidates, actor=actor)

    def row(self, candidate: Candidate, *, actor: str, now: datetime) -> dict[str, Any]:
        data = cast(SourcedActionIn, candidate.model)
        return {
            "source_system": data.source_system,
            "external_id": data.external_id,
            "fetched_at": data.fetched_at,
            "content_hash": data.content_hash,
            "created_by": actor,
            "updated_by": actor,
            "capa_id": self._capa_ids[data.capa_external_id],
            "title": data.title,
            "owner": data.owner,
            "owner_tenant": self._tenant,
            "due_at": data.due_at,
            "status": ActionStatus.OPEN.value,
        }

    async def after_upsert(
        self, session: AsyncSession, applied: Sequence[Applied], *, actor: str
    ) -> None:
        await follow_action_completion(
            session,
            actions={
                item.id: cast(SourcedActionIn, item.candidate.model).completed_at
                for item in applied
            },
            actor=actor,
            source_system=self.source_system,
        )
