"""DataLoaders for nested record fields: a batch costs a fixed number of reads, however
many parents ask.

Records are read through ``list_records`` (both gates, the granted level, the grantors'
access logs) with the batch's ids as one condition: one statement per store for all the
batch's owners. Links and CAPA actions are not federated tables; they are read in each
owner's tenant session, one query per owner per batch, and CAPA actions pass both gates
here (the owner's CAPA grant, and ``read`` on ``capa_action``) and are logged like any
shared read.

Loaders are made on first use, one per kind and shared process (the process a parent was
read in is the one its nested fields are read in). An owner that cannot be read is
reported once per loader, at the first field that asked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import CapaAction
from accord.compliance.sharing.federation import (
    Condition,
    Ordering,
    list_records,
    log_reads,
    owner_stores,
)
from accord.compliance.sharing.reads import (
    OWNER_FAILURES,
    SharedRecord,
    TenantError,
    _unavailable,
    plan_owners,
)
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import tenant_errors
from accord.platform import clock
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Resource
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.identity.principal import Principal
from accord.tenants.sessions import tenant_session

#: (owner tenant, record id): nested records always live in their parent's owner.
Key = tuple[str, uuid.UUID]
V = TypeVar("V")
R = TypeVar("R")

#: Rows per read of a nested listing; larger sets are read in several pages.
NESTED_PAGE = 500
NESTED_ORDER = Ordering("created_at", descending=True)
OWNER_TIMEOUT = 10.0

#: What a ``summary`` grant of a CAPA shows of its actions (a whitelist, like
#: ``SUMMARY_FIELDS``): no titles, no people.
ACTION_SUMMARY_FIELDS = frozenset(
    {"id", "capa_id", "owner_tenant", "due_at", "status", "completed_at"}
    | {"created_at", "updated_at"}
)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads, in which process: what a batch needs to pass the gates."""

    runtime: Runtime
    authorizer: Authorizer
    principal: Principal
    request_id: str
    process: str | None

    @classmethod
    def of(cls, context: Context, process: str | None) -> Reader:
        principal, _ = require_tenant(context)
        return cls(context.runtime, context.authorizer, principal, context.request_id, process)

    def allows(self, owner: str, record_type: str) -> bool:
        resource = Resource(owner, record_type, self.process)
        return self.authorizer.authorize(self.principal, "read", resource).allowed

    async def records(
        self, record_type: str, conditions: Sequence[Condition], owners: Sequence[str]
    ) -> tuple[list[SharedRecord], list[TenantError]]:
        """Every matching record of ``owners`` (one statement per store per page)."""
        records: list[SharedRecord] = []
        errors: list[TenantError] = []
        if not owners:  # no owners would mean every owner to ``list_records``
            return records, errors
        after = None
        while True:
            page = await list_records(
                self.runtime,
                authorizer=self.authorizer,
                principal=self.principal,
                record_type=record_type,
                ordering=NESTED_ORDER,
                conditions=conditions,
                tenants=owners,
                after=after,
                first=NESTED_PAGE,
                process=self.process,
                request_id=self.request_id,
            )
            records.extend(page.records)
            errors.extend(page.errors)
            if not page.has_next or not page.positions:
                return records, errors
            after = page.positions[-1]

    async def per_owner(
        self, owners: Sequence[str], read: Callable[[AsyncSession, str], Awaitable[R]]
    ) -> tuple[dict[str, R], list[TenantError]]:
        """``read`` in each owner's tenant session, owners in parallel."""

        async def one(owner: str) -> R:
            async with asyncio.timeout(OWNER_TIMEOUT):
                async with tenant_session(self.runtime, owner) as session:
                    return await read(session, owner)

        outcomes = await asyncio.gather(*(one(o) for o in owners), return_exceptions=True)
        done: dict[str, R] = {}
        errors: list[TenantError] = []
        for owner, outcome in zip(owners, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, OWNER_FAILURES):
                    raise outcome
                errors.append(_unavailable(owner, outcome))
            else:
                done[owner] = outcome
        return done, errors


def _owners(keys: Sequence[Key]) -> list[str]:
    return sorted({owner for owner, _ in keys})


def _ids(keys: Sequence[Key]) -> list[uuid.UUID]:
    return sorted({record_id for _, record_id in keys}, key=str)


def _ids_of(keys: Sequence[Key], owner: str) -> list[uuid.UUID]:
    return sorted({i for o, i in keys if o == owner}, key=str)


class BatchLoader(DataLoader[Key, V]):
    """A loader whose batches remember the owners they could not read."""

    def __init__(self, reader: Reader) -> None:
        super().__init__(load_fn=self.batch_load)
        self.reader = reader
        self._failures: dict[str, TenantError] = {}
        self._reported: set[str] = set()

    async def batch_load(self, keys: Sequence[Key]) -> list[V]:
        raise NotImplementedError

    def note(self, errors: Sequence[TenantError]) -> None:
        for error in errors:
            self._failures.setdefault(error.tenant, error)

    def failure_once(self, owner: str) -> TenantError | None:
        """The owner's failure, the first time it is asked for (one error per owner)."""
        failure = self._failures.get(owner)
        if failure is None or owner in self._reported:
            return None
        self._reported.add(owner)
        return failure


class RecordsByColumnLoader(BatchLoader[list[SharedRecord]]):
    """Records of ``record_type`` whose ``column`` holds the key's id, in the key's owner."""

    record_type: ClassVar[str]
    column: ClassVar[str]

    async def batch_load(self, keys: Sequence[Key]) -> list[list[SharedRecord]]:
        records, errors = await self.reader.records(
            self.record_type, [Condition(self.column, "in", _ids(keys))], _owners(keys)
        )
        self.note(errors)
        grouped: dict[Key, list[SharedRecord]] = {}
        for record in records:
            value = record["fields"][self.column]
            grouped.setdefault((record["owner"], value), []).append(record)
        return [grouped.get(k, []) for k in keys]


class RecordByIdLoader(BatchLoader[SharedRecord | None]):
    record_type: ClassVar[str]

    async def batch_load(self, keys: Sequence[Key]) -> list[SharedRecord | None]:
        records, errors = await self.reader.records(
            self.record_type, [Condition("id", "in", _ids(keys))], _owners(keys)
        )
        self.note(errors)
        by_key = {(r["owner"], r["fields"]["id"]): r for r in records}
        return [by_key.get(k) for k in keys]


class FindingsByAuditLoader(RecordsByColumnLoader):
    record_type = "finding"
    column = "audit_id"


class EvidenceByCapaLoader(RecordsByColumnLoader):
    record_type = "evidence"
    column = "capa_id"


class FindingByIdLoader(RecordByIdLoader):
    record_type = "finding"


class CapaByIdLoader(RecordByIdLoader):
    record_type = "capa"


class ManagementReviewByIdLoader(RecordByIdLoader):
    record_type = "management_review"


class AuditByIdLoader(RecordByIdLoader):
    record_type = "audit"


class LinkedLoader(BatchLoader[list[SharedRecord]]):
    """Records on the other side of the CAPA–finding links of the key's record."""

    #: the key's side of the link and the other side's record type
    side: ClassVar[str]
    other: ClassVar[str]

    async def batch_load(self, keys: Sequence[Key]) -> list[list[SharedRecord]]:
        mine = 0 if self.side == "capa" else 1

        async def links(session: AsyncSession, owner: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
            ids = _ids_of(keys, owner)
            if mine == 0:
                return await capa_service.finding_links(session=session, capa_ids=ids)
            return await capa_service.finding_links(session=session, finding_ids=ids)

        found, errors = await self.reader.per_owner(_owners(keys), links)
        self.note(errors)
        # (owner, other id) → the keys linked to it
        wanted: dict[Key, list[Key]] = {}
        for owner, pairs in found.items():
            for pair in pairs:
                wanted.setdefault((owner, pair[1 - mine]), []).append((owner, pair[mine]))
        owners = sorted({owner for owner, _ in wanted})
        ids = sorted({i for _, i in wanted}, key=str)
        records, more = await self.reader.records(self.other, [Condition("id", "in", ids)], owners)
        self.note(more)
        result: dict[Key, list[SharedRecord]] = {}
        for record in records:  # newest first, as read
            for key in wanted.get((record["owner"], record["fields"]["id"]), []):
                result.setdefault(key, []).append(record)
        return [result.get(k, []) for k in keys]


class FindingsByCapaLoader(LinkedLoader):
    side = "capa"
    other = "finding"


class CapasByFindingLoader(LinkedLoader):
    side = "finding"
    other = "capa"


@dataclass(frozen=True, slots=True)
class SharedActions:
    """A CAPA's actions at the level its owner shares the CAPA (withheld columns absent)."""

    level: SharingLevel
    rows: list[dict[str, Any]]


class ActionsByCapaLoader(BatchLoader[SharedActions | None]):
    """The actions of each CAPA; None where the gates do not let the caller read them."""

    async def batch_load(self, keys: Sequence[Key]) -> list[SharedActions | None]:
        reader = self.reader
        owners = set(_owners(keys))
        plan = await plan_owners(
            reader.runtime,
            authorizer=reader.authorizer,
            principal=reader.principal,
            record_type="capa",
            process=reader.process,
        )
        admitted = [
            o
            for o in plan
            if o.owner in owners
            and o.level is not SharingLevel.AGGREGATE
            and reader.allows(o.owner, "capa_action")
        ]
        if not admitted:
            return [None for _ in keys]
        by_store, errors = owner_stores(admitted)
        planned = {o.owner: o for group in by_store.values() for o in group}
        store_of = {o.owner: store for store, group in by_store.items() for o in group}

        async def read(session: AsyncSession, owner: str) -> Sequence[CapaAction]:
            return await capa_service.live_actions_of(
                session=session, capa_ids=_ids_of(keys, owner)
            )

        found, failed = await reader.per_owner(sorted(planned), read)
        errors.extend(failed)
        logged = await log_reads(
            reader.runtime,
            principal=reader.principal,
            request_id=reader.request_id,
            reads=[
                (store_of[owner], planned[owner], "capa_action", len(actions))
                for owner, actions in found.items()
                if planned[owner].grant is not None
            ],
            at=clock.now().astimezone(),
            within=OWNER_TIMEOUT,
        )
        errors.extend(logged.values())
        self.note(errors)
        shared: dict[Key, SharedActions] = {}
        for owner, actions in found.items():
            if owner in logged:  # nothing leaves without its log entry
                continue
            level = planned[owner].level
            for key in ((owner, i) for i in _ids_of(keys, owner)):
                shared[key] = SharedActions(level, [])
            for action in actions:
                shared[(owner, action.capa_id)].rows.append(_action_fields(action, level))
        return [shared.get(k) for k in keys]


def _action_fields(action: CapaAction, level: SharingLevel) -> dict[str, Any]:
    columns = {c.key: getattr(action, c.key) for c in CapaAction.__table__.c}
    if level is SharingLevel.FULL:
        return columns
    return {k: v for k, v in columns.items() if k in ACTION_SUMMARY_FIELDS}


L = TypeVar("L", bound=BatchLoader[Any])


@dataclass
class RecordLoaders:
    """This request's record loaders, by kind and shared process, made on first use."""

    context: Context
    made: dict[tuple[type[Any], str | None], BatchLoader[Any]] = field(default_factory=dict)

    def get(self, kind: type[L], process: str | None) -> L:
        loader = self.made.get((kind, process))
        if loader is None:
            loader = kind(Reader.of(self.context, process))
            self.made[(kind, process)] = loader
        assert isinstance(loader, kind)
        return loader


def record_loaders(context: Context) -> RecordLoaders:
    if context.loaders.records is None:
        context.loaders.records = RecordLoaders(context)
    return context.loaders.records


async def load(
    info: strawberry.Info[Context, None], kind: type[BatchLoader[V]], process: str | None, key: Key
) -> V:
    """``kind``'s value for ``key``; an owner it could not read becomes an error here."""
    context = info.context
    loader = record_loaders(context).get(kind, process)
    value = await loader.load(key)
    failure = loader.failure_once(key[0])
    if failure is not None:
        context.errors.extend(tenant_errors(info, [failure]))
    return value
