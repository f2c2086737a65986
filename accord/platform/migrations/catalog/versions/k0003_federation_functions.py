"""Per-store federation helpers: ``federation.log_reads`` appends access-log rows.

A federated request that read several grantors of one store logs to each grantor's own
``access_log`` (sovereignty: every tenant keeps its log in its schema). One call of this
function per store does it in one round trip with a small statement per grantor,
instead of one statement holding a data-modifying CTE per grantor. It runs with the
caller's rights (``SECURITY INVOKER``): the federation role may insert into access logs
and nothing else, and so may this function when it calls it.

Revision ID: k0003
Revises: k0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "k0003"
down_revision = "k0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS federation")
    op.execute("GRANT USAGE ON SCHEMA federation TO PUBLIC")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION federation.log_reads(
            entries jsonb,
            at timestamptz,
            grantee text,
            principal text,
            request_id text
        ) RETURNS integer
        LANGUAGE plpgsql
        SECURITY INVOKER
        SET search_path = pg_catalog
        AS $fn$
        DECLARE
            e record;
            n integer := 0;
        BEGIN
            FOR e IN
                SELECT * FROM jsonb_to_recordset(entries) AS x(
                    schema text, agreement_id uuid, record_type text, level text,
                    records integer
                )
            LOOP
                IF e.schema IS NULL OR e.schema NOT LIKE 't\\_%' THEN
                    RAISE EXCEPTION 'log_reads: % is not a tenant schema', e.schema
                        USING ERRCODE = '22023';
                END IF;
                EXECUTE format(
                    'INSERT INTO %I.access_log (at, grantee, principal, agreement_id, '
                    'record_type, level, records, request_id) '
                    'VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
                    e.schema
                ) USING at, grantee, principal, e.agreement_id, e.record_type, e.level,
                    e.records, request_id;
                n := n + 1;
            END LOOP;
            RETURN n;
        END
        $fn$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS federation.log_reads(jsonb, timestamptz, text, text, text)")
    op.execute("DROP SCHEMA IF EXISTS federation")
