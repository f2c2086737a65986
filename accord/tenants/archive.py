"""Offboarding: export a tenant's complete data, verify it, then remove its schema and role.

The export is one NDJSON file per table of the tenant's schema (every table, found in the
database catalog, rows in primary-key order, each row as PostgreSQL's own ``jsonb`` text so
that values round-trip exactly) and ``manifest.json`` with row counts and the SHA-256 of
every file. The content hash covers the schema revision and the per-table hashes, so an
export re-imported into a fresh schema and exported again yields the same content hash:
a restore writes the exported rows as they are, with the tables' own triggers off while it
loads (tallies are not counted twice, no change is announced) and generated columns (a
risk's score) computed again from the restored values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from accord.platform import clock
from accord.platform.canonical import canonical_digest, canonical_json
from accord.platform.db import TenantScope, quote_ident
from accord.platform.errors import BadInput, Conflict, NotFound
from accord.platform.migrations.runner import current_revision
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.provisioning import (
    SYSTEM_ACTOR,
    _drop_tenant_objects,
    create_tenant,
    suspend_tenant,
)

EXPORT_FORMAT = "accord-tenant-export/1"
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    content_hash: str
    rows: dict[str, int]


async def _tables_in_dependency_order(conn: AsyncConnection, schema: str) -> list[str]:
    tables = list(
        await conn.scalars(
            text(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = :s and c.relkind in ('r', 'p') order by c.relname"
            ),
            {"s": schema},
        )
    )
    edges = (
        await conn.execute(
            text(
                "select c.relname, r.relname from pg_constraint k "
                "join pg_class c on c.oid = k.conrelid join pg_class r on r.oid = k.confrelid "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where k.contype = 'f' and n.nspname = :s and c.oid <> r.oid"
            ),
            {"s": schema},
        )
    ).all()
    depends: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in edges:
        if parent in depends:
            depends[child].add(parent)
    ordered: list[str] = []
    while depends:
        ready = sorted(t for t, deps in depends.items() if not deps - set(ordered))
        if not ready:
            ordered.extend(sorted(depends))
            break
        ordered.extend(ready)
        for t in ready:
            del depends[t]
    return ordered


async def _primary_key(conn: AsyncConnection, schema: str, table: str) -> list[str]:
    cols = await conn.scalars(
        text(
            "select a.attname from pg_index i "
            "join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace "
            "join lateral unnest(i.indkey) with ordinality as k(attnum, ord) on true "
            "join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum "
            "where i.indisprimary and n.nspname = :s and c.relname = :t order by k.ord"
        ),
        {"s": schema, "t": table},
    )
    return list(cols)


async def _export_into(conn: AsyncConnection, tenant: Tenant, directory: Path) -> ExportResult:
    scope = tenant.scope
    directory.mkdir(parents=True, exist_ok=False)
    tables = await _tables_in_dependency_order(conn, scope.schema)
    revision = await current_revision(conn, scope.schema)
    entries: list[dict[str, Any]] = []
    rows: dict[str, int] = {}
    s = quote_ident(conn, scope.schema)
    for table in tables:
        t = quote_ident(conn, table)
        order = [quote_ident(conn, c) for c in await _primary_key(conn, scope.schema, table)]
        order_by = ", ".join(order) if order else "1"
        # Identifiers come from the database catalog and are quoted by the dialect; the
        # ORDER BY on the row text makes tables without a primary key deterministic too.
        stmt = f"select to_jsonb(r)::text as doc from {s}.{t} r order by {order_by}, doc"  # noqa: S608
        digest, count = hashlib.sha256(), 0
        path = directory / f"{table}.ndjson"
        with path.open("wb") as out:
            result = await conn.stream(text(stmt))
            async for (doc,) in result:
                line = doc.encode() + b"\n"
                out.write(line)
                digest.update(line)
                count += 1
        entries.append(
            {"table": table, "file": path.name, "rows": count, "sha256": digest.hexdigest()}
        )
        rows[table] = count
    content_hash = canonical_digest({"schema_revision": revision, "tables": entries})
    manifest = {
        "format": EXPORT_FORMAT,
        "tenant": scope.slug,
        "legal_name": tenant.legal_name,
        "jurisdiction": tenant.jurisdiction,
        "exported_at": clock.now().isoformat(),
        "schema_revision": revision,
        "tables": entries,
        "content_hash": content_hash,
    }
    (directory / "manifest.json").write_bytes(canonical_json(manifest))
    return ExportResult(directory=directory, content_hash=content_hash, rows=rows)


async def export_tenant(runtime: Runtime, *, slug: str, directory: Path) -> ExportResult:
    """Export ``slug``'s schema from one consistent snapshot into ``directory``."""
    async with runtime.control_session() as session:
        tenant = await tenant_service.get(session=session, slug=slug)
        if tenant.status == TenantStatus.OFFBOARDED:
            raise Conflict(f"Tenant '{slug}' is already offboarded.", reason="TENANT_OFFBOARDED")
    async with runtime.stores.migrator_engine(tenant.store).connect() as conn:
        snap = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with snap.begin():
            await snap.execute(select(func.set_config("transaction_read_only", "on", True)))
            return await _export_into(snap, tenant, directory)


def verify_export(directory: Path) -> str:
    """Re-hash every file against the manifest; return the content hash or raise."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise BadInput(f"{directory} has no manifest.json.", reason="EXPORT_INCOMPLETE")
    manifest = json.loads(manifest_path.read_bytes())
    if manifest.get("format") != EXPORT_FORMAT:
        raise BadInput(f"Unknown export format {manifest.get('format')!r}.", reason="EXPORT_FORMAT")
    problems = []
    for entry in manifest["tables"]:
        data = (directory / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{entry['file']}: SHA-256 differs from the manifest")
        if data.count(b"\n") != entry["rows"]:
            problems.append(f"{entry['file']}: row count differs from the manifest")
    content = canonical_digest(
        {"schema_revision": manifest["schema_revision"], "tables": manifest["tables"]}
    )
    if content != manifest["content_hash"]:
        problems.append("content hash differs from the manifest")
    if problems:
        raise BadInput("Export is damaged: " + "; ".join(problems), reason="EXPORT_DAMAGED")
    return content


async def restore_tenant(
    runtime: Runtime,
    *,
    directory: Path,
    slug: str,
    store: str,
    legal_name: str | None = None,
    jurisdiction: str | None = None,
) -> Tenant:
    """Provision ``slug`` and load an export into it, all or nothing."""
    verify_export(directory)
    manifest = json.loads((directory / "manifest.json").read_bytes())

    async def load(conn: AsyncConnection, scope: TenantScope) -> None:
        await load_export(conn, scope, directory)

    return await create_tenant(
        runtime,
        slug=slug,
        legal_name=legal_name or manifest["legal_name"],
        jurisdiction=jurisdiction or manifest["jurisdiction"],
        store=store,
        seed=load,
    )


async def load_export(conn: AsyncConnection, scope: TenantScope, directory: Path) -> None:
    """Write a verified export's rows into ``scope``'s new, empty schema (at the export's
    schema revision) inside the caller's transaction: as exported, with the tables'
    own triggers off while it loads."""
    manifest = json.loads((directory / "manifest.json").read_bytes())
    revision = await current_revision(conn, scope.schema)
    if revision != manifest["schema_revision"]:
        raise Conflict(
            f"Export is at schema revision {manifest['schema_revision']}, this Accord "
            f"creates tenants at {revision}.",
            reason="SCHEMA_REVISION_MISMATCH",
        )
    s = quote_ident(conn, scope.schema)
    loaded = [entry for entry in manifest["tables"] if entry["table"] != VERSION_TABLE]
    # The rows are restored as exported: triggers that derive state (tallies) or announce
    # changes (notifications) would count or announce every record a second time.
    for entry in loaded:
        t = quote_ident(conn, entry["table"])
        await conn.execute(text(f"alter table {s}.{t} disable trigger user"))
    for entry in loaded:
        t = quote_ident(conn, entry["table"])
        # Generated columns (a risk's score) are computed again from the restored values.
        columns = ", ".join(
            quote_ident(conn, c) for c in await _stored_columns(conn, scope.schema, entry["table"])
        )
        insert = text(
            f"insert into {s}.{t} ({columns}) overriding system value "  # noqa: S608
            f"select {columns} from jsonb_populate_record(null::{s}.{t}, cast(:doc as jsonb))"
        )
        try:
            await _load_file(conn, insert, directory / entry["file"])
        except DBAPIError as exc:
            detail = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            raise BadInput(
                f"The database refused a row of {entry['file']}: {detail}",
                reason="EXPORT_REFUSED",
            ) from exc
    for entry in loaded:
        t = quote_ident(conn, entry["table"])
        await conn.execute(text(f"alter table {s}.{t} enable trigger user"))
    await _reset_sequences(conn, scope.schema)


async def _load_file(conn: AsyncConnection, insert: TextClause, path: Path) -> None:
    with path.open("rb") as lines:
        batch: list[dict[str, str]] = []
        for line in lines:
            batch.append({"doc": line.decode().rstrip("\n")})
            if len(batch) >= 1000:
                await conn.execute(insert, batch)
                batch = []
        if batch:
            await conn.execute(insert, batch)


async def _stored_columns(conn: AsyncConnection, schema: str, table: str) -> list[str]:
    """The columns a row is inserted with: all but dropped and generated ones."""
    cols = await conn.scalars(
        text(
            "select a.attname from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = :s and c.relname = :t and a.attnum > 0 and not a.attisdropped "
            "and a.attgenerated = '' order by a.attnum"
        ),
        {"s": schema, "t": table},
    )
    return list(cols)


async def _reset_sequences(conn: AsyncConnection, schema: str) -> None:
    owned = await conn.execute(
        text(
            "select c.relname, a.attname from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = :s and a.attnum > 0 and not a.attisdropped "
            "and pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
            "a.attname) is not null"
        ),
        {"s": schema},
    )
    for table, column in owned.all():
        s, t, c = (quote_ident(conn, x) for x in (schema, table, column))
        next_value = await conn.scalar(
            text(f"select coalesce(max({c}), 0) + 1 from {s}.{t}")  # noqa: S608
        )
        await conn.execute(
            text("select setval(pg_get_serial_sequence(:qualified, :column), :value, false)"),
            {"qualified": f"{s}.{t}", "column": column, "value": next_value},
        )


async def offboard_tenant(
    runtime: Runtime, *, slug: str, export_root: Path, actor: str = SYSTEM_ACTOR
) -> Tenant:
    """Suspend, export and verify, drop schema and role, keep a tombstone row."""
    async with runtime.control_session() as session:
        tenant = await tenant_service.find(session=session, slug=slug)
        if tenant is None or tenant.status == TenantStatus.PROVISIONING:
            raise NotFound(f"No tenant '{slug}'.", reason="UNKNOWN_TENANT", field="slug")
        if tenant.status == TenantStatus.OFFBOARDED:
            raise Conflict(f"Tenant '{slug}' is already offboarded.", reason="TENANT_OFFBOARDED")
        status = tenant.status
    if status == TenantStatus.ACTIVE:
        await suspend_tenant(runtime, slug=slug, actor=actor, reason="offboarding")
    stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
    result = await export_tenant(runtime, slug=slug, directory=export_root / f"{slug}-{stamp}")
    content_hash = verify_export(result.directory)
    async with runtime.control_session() as session:
        tenant = await tenant_service.get_for_update(session=session, slug=slug)
        await _drop_tenant_objects(runtime, tenant.scope)
        tenant.status = TenantStatus.OFFBOARDED
        tenant.offboarded_at = clock.now()
        tenant.export_hash = content_hash
        tenant.export_path = str(result.directory)
    return tenant
