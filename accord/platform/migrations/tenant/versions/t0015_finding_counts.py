"""Tenant plane: ``finding_counts`` (grade, state) — each finding counted once.

``finding_tallies`` counts a finding once per clause it names, which is right for "by
clause" but overcounts "by grade" and "by state"; this tally gives those. Kept by the
same kind of statement-level triggers; ``recount_tallies()`` now rebuilds it too.

Revision ID: t0015
Revises: t0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "t0015"
down_revision = "t0009"
branch_labels = None
depends_on = None

_DELTA = """
CREATE FUNCTION finding_count_delta() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE format($q$
      INSERT INTO %I.finding_counts AS t (grade, state, n)
      SELECT grade, state, count(*) FROM new_rows WHERE deleted_at IS NULL GROUP BY 1, 2
      ON CONFLICT (grade, state) DO UPDATE SET n = t.n + excluded.n
    $q$, TG_TABLE_SCHEMA);
  ELSE
    EXECUTE format($q$
      WITH delta AS (
        SELECT grade, state, sum(d) AS n FROM (
          SELECT grade, state, 1 AS d FROM %2$s WHERE deleted_at IS NULL
          UNION ALL
          SELECT grade, state, -1 AS d FROM old_rows WHERE deleted_at IS NULL
        ) AS changed
        GROUP BY 1, 2 HAVING sum(d) <> 0
      )
      INSERT INTO %1$I.finding_counts AS t (grade, state, n)
      SELECT grade, state, n FROM delta
      ON CONFLICT (grade, state) DO UPDATE SET n = t.n + excluded.n
    $q$, TG_TABLE_SCHEMA,
      CASE WHEN TG_OP = 'UPDATE' THEN 'new_rows' ELSE '(SELECT * FROM old_rows WHERE false) AS nothing' END);
    EXECUTE format('DELETE FROM %I.finding_counts WHERE n = 0', TG_TABLE_SCHEMA);
  END IF;
  RETURN NULL;
END
$fn$
"""

_RECOUNT = """
CREATE OR REPLACE FUNCTION recount_tallies() RETURNS void LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE s text := current_schema();
BEGIN
  EXECUTE format('DELETE FROM %I.finding_tallies', s);
  EXECUTE format($q$
    INSERT INTO %1$I.finding_tallies (grade, state, clause_key, n)
    SELECT grade, state, k, count(*) FROM %1$I.findings, unnest(clause_keys) AS k
    WHERE deleted_at IS NULL GROUP BY 1, 2, 3
  $q$, s);
  EXECUTE format('DELETE FROM %I.finding_counts', s);
  EXECUTE format($q$
    INSERT INTO %1$I.finding_counts (grade, state, n)
    SELECT grade, state, count(*) FROM %1$I.findings WHERE deleted_at IS NULL GROUP BY 1, 2
  $q$, s);
  EXECUTE format('DELETE FROM %I.capa_action_tallies', s);
  EXECUTE format($q$
    INSERT INTO %1$I.capa_action_tallies (status, due_at, n)
    SELECT status, due_at, count(*) FROM %1$I.capa_actions WHERE deleted_at IS NULL
    GROUP BY 1, 2
  $q$, s);
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "finding_counts",
        sa.Column("grade", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("grade", "state", name="pk_finding_counts"),
    )
    op.execute(_DELTA)
    for event in ("INSERT", "UPDATE", "DELETE"):
        rows = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows"}.get(
            event, "OLD TABLE AS old_rows NEW TABLE AS new_rows"
        )
        op.execute(
            f"CREATE TRIGGER count_{event.lower()} AFTER {event} ON findings "
            f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION finding_count_delta()"
        )
    op.execute(_RECOUNT)
    op.execute("SELECT recount_tallies()")


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER count_{event} ON findings")
    op.execute("DROP FUNCTION finding_count_delta()")
    op.drop_table("finding_counts")
