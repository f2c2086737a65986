"""The psycopg connection under a tenant session, for the per-row hot paths of a sync.

A tenant session runs on one ``AsyncConnection`` whose transaction was opened with the
tenant's role (``SET LOCAL``) and whose engine translates the placeholder schema
``tenant`` (``schema_translate_map``). Statements sent on that connection's driver
connection run in the same transaction, as the same role; what SQLAlchemy would have done
for us is the schema translation, which ``qualified`` does when a statement is built (once
per tenant schema, then cached), and flushing the session's pending ORM changes first, which
``driver`` does. Parameters go to psycopg unprocessed: callers pass plain values (enum
members as their ``.value``, lists for arrays).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession


async def driver(session: AsyncSession) -> tuple[psycopg.AsyncConnection[Any], Mapping[str, str]]:
    """(psycopg connection of the session's transaction, its schema translate map)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    conn = await session.connection()
    sync = conn.sync_connection
    assert sync is not None and sync.in_transaction()
    options = sync.get_execution_options()
    translate: Mapping[str, str] = options.get("schema_translate_map") or {}
    raw: psycopg.AsyncConnection[Any] = sync.connection.driver_connection  # type: ignore[assignment]
    return raw, translate


def schema_of(table: Table, translate: Mapping[str, str]) -> str:
    schema = table.schema
    assert schema is not None, f"{table.name} has no schema"
    return translate.get(schema, schema)


def qualified(table: Table, translate: Mapping[str, str]) -> sql.Composed:
    """``"schema"."table"`` with the tenant schema put in for the placeholder."""
    return sql.SQL("{}.{}").format(
        sql.Identifier(schema_of(table, translate)), sql.Identifier(table.name)
    )
