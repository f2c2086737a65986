"""Connector instances on the control plane: register, look up, decrypt, schedule."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.connectors.framework.config import SourceConfig, seal, secret_key, unseal
from accord.connectors.framework.source import SourceSpec, get_source
from accord.connectors.models import ConnectorInstance
from accord.connectors.schedule import parse_schedule
from accord.platform.errors import BadInput, Conflict, NotFound
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service


@dataclass(frozen=True, slots=True)
class Loaded:
    """An instance with its source and its decrypted, typed config (never persisted)."""

    row: ConnectorInstance
    source: SourceSpec
    config: SourceConfig


async def add_instance(
    runtime: Runtime,
    *,
    tenant: str,
    kind: str,
    name: str,
    base_url: str,
    config: SourceConfig | Mapping[str, Any],
    schedule: str | None = None,
    mapping_override: Mapping[str, Any] | None = None,
) -> ConnectorInstance:
    source = get_source(kind)
    typed = config if isinstance(config, SourceConfig) else _validate(source, config)
    if schedule:
        parse_schedule(schedule)
    public, token = seal(typed, secret_key(runtime.settings))
    async with runtime.control_session() as session:
        await tenant_service.get_accessible(session=session, slug=tenant)
        clash = await session.scalar(
            select(ConnectorInstance.id).where(
                ConnectorInstance.tenant == tenant, ConnectorInstance.name == name
            )
        )
        if clash is not None:
            raise Conflict(
                f"Tenant {tenant} has an instance {name!r} already.",
                reason="DUPLICATE_INSTANCE",
                field="name",
            )
        row = ConnectorInstance(
            id=uuid.uuid4(),
            tenant=tenant,
            kind=kind,
            name=name,
            base_url=base_url,
            config=public,
            secrets=token,
            mapping_override=dict(mapping_override or {}),
            schedule=schedule,
            enabled=True,
        )
        session.add(row)
    return row


def _validate(source: SourceSpec, config: Mapping[str, Any]) -> SourceConfig:
    from pydantic import ValidationError

    try:
        return source.config_model.model_validate(dict(config))
    except ValidationError as exc:
        raise BadInput(str(exc), reason="BAD_CONFIG", field="config") from None


async def find_instance(
    session: AsyncSession, ref: str, tenant: str | None = None
) -> ConnectorInstance:
    """By id, or by name (with ``tenant`` when names repeat across tenants)."""
    query = select(ConnectorInstance)
    try:
        query = query.where(ConnectorInstance.id == uuid.UUID(ref))
    except ValueError:
        query = query.where(ConnectorInstance.name == ref)
        if tenant:
            query = query.where(ConnectorInstance.tenant == tenant)
    rows = (await session.scalars(query)).all()
    if not rows:
        raise NotFound(
            f"No connector instance {ref!r}.", reason="INSTANCE_NOT_FOUND", field="instance"
        )
    if len(rows) > 1:
        raise BadInput(
            f"{ref!r} names instances of several tenants; give --tenant.",
            reason="AMBIGUOUS_INSTANCE",
            field="instance",
        )
    return rows[0]


async def load_instance(runtime: Runtime, ref: str, tenant: str | None = None) -> Loaded:
    async with runtime.control_session() as session:
        row = await find_instance(session, ref, tenant)
    source = get_source(row.kind)
    config = unseal(source.config_model, row.config, row.secrets, secret_key(runtime.settings))
    return Loaded(row, source, config)


async def set_mapping_override(
    runtime: Runtime, ref: str, override: Mapping[str, Any], tenant: str | None = None
) -> None:
    async with runtime.control_session() as session:
        row = await find_instance(session, ref, tenant)
        row.mapping_override = dict(override)


async def list_instances(
    runtime: Runtime, tenant: str | None = None
) -> Sequence[ConnectorInstance]:
    async with runtime.control_session() as session:
        query = select(ConnectorInstance).order_by(ConnectorInstance.tenant, ConnectorInstance.name)
        if tenant:
            query = query.where(ConnectorInstance.tenant == tenant)
        return (await session.scalars(query)).all()
