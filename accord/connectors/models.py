"""Connector tables: instances on the control plane; state, runs and quarantine per tenant.

Runs, state and quarantine live in the tenant's own store: they hold source payloads,
response bodies and error texts, i.e. the tenant's data, which must not leave its store.
The control plane keeps only what scheduling needs (instance, schedule, last run time).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase, TenantBase


class ConnectorInstance(ControlBase):
    __tablename__ = "connector_instances"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"))
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(Text)
    #: The typed config without its secrets (those are masked here).
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: Fernet token of the secret values, keyed by their path in the config.
    secrets: Mapped[str | None] = mapped_column(Text)
    mapping_override: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    schedule: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SyncState(TenantBase):
    __tablename__ = "sync_state"

    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    stream: Mapped[str] = mapped_column(Text, primary_key=True)
    #: A serialised ``Bookmark`` (typed in ``sync.state``).
    bookmark: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: The run that owns the stream now: a page of any other run is refused (fencing).
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SyncRun(TenantBase):
    __tablename__ = "sync_runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    instance_name: Mapped[str] = mapped_column(Text)
    stream: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    full_resync: Mapped[bool] = mapped_column(Boolean, default=False)
    bookmark_before: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    bookmark_after: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[Any]] = mapped_column(JSONB, default=list)


class QuarantineEntry(TenantBase):
    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    stream: Mapped[str] = mapped_column(Text)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    external_id: Mapped[str | None] = mapped_column(Text)
    #: Row number for file sources (CSV), so a rejected row can be found in the file.
    position: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payload_hash: Mapped[str] = mapped_column(Text)
    #: Every reason: ``[{"field", "column", "reason", "message"}]``.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fixed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replay_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
