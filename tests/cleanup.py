"""Removing test and bench tenants' control-plane rows, children first."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CHILD_TABLES = text(
    "select c.relname, a.attname, pa.attname from pg_constraint k "
    "join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid "
    "join pg_namespace n on n.oid = p.relnamespace "
    "join pg_attribute a on a.attrelid = c.oid and a.attnum = k.conkey[1] "
    "join pg_attribute pa on pa.attrelid = p.oid and pa.attnum = k.confkey[1] "
    "where k.contype = 'f' and n.nspname = 'accord' and p.relname = :t"
)


async def delete_cascading(session: AsyncSession, table: str, where: str, pattern: str) -> None:
    """Delete control-plane rows matching ``where`` and, first, every row referring to them."""
    for child, child_col, parent_col in (await session.execute(_CHILD_TABLES, {"t": table})).all():
        if child != table:
            parents = f'select "{parent_col}" from accord."{table}" where {where}'
            await delete_cascading(session, child, f'"{child_col}" in ({parents})', pattern)
    await session.execute(text(f'delete from accord."{table}" where {where}'), {"p": pattern})
