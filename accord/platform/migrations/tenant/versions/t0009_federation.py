"""Tenant plane: what federated reads need — keyset indexes and maintained tallies.

* Indexes for the orderings a federated listing pushes into each owner's branch
  (``ORDER BY <column>, id LIMIT n`` with a keyset condition), so a branch reads about a
  page of rows however many the tenant holds.
* ``finding_tallies`` (grade, state, clause) and ``capa_action_tallies`` (status, due
  date): counts kept by statement-level triggers with transition tables, so a dashboard
  reads a few hundred tally rows instead of scanning every finding. Each trigger adds the
  new rows and subtracts the old ones of the statement in one upsert, then drops groups
  left at zero. ``recount_tallies()`` rebuilds both from the records
  (a test checks tallies equal a recount after random transitions).

Records marked deleted at their source (``deleted_at``, t0007) are not counted.

Revision ID: t0009
Revises: t0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "t0009"
down_revision = "t0007"
branch_labels = None
depends_on = None

_FINDING_DELTA = """
CREATE FUNCTION finding_tally_delta() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE format($q$
      INSERT INTO %I.finding_tallies AS t (grade, state, clause_key, n)
      SELECT grade, state, k, count(*) FROM new_rows, unnest(clause_keys) AS k
      WHERE deleted_at IS NULL GROUP BY 1, 2, 3
      ON CONFLICT (grade, state, clause_key) DO UPDATE SET n = t.n + excluded.n
    $q$, TG_TABLE_SCHEMA);
  ELSE
    EXECUTE format($q$
      WITH delta AS (
        SELECT grade, state, k AS clause_key, sum(d) AS n FROM (
          SELECT grade, state, clause_keys, 1 AS d FROM %2$s WHERE deleted_at IS NULL
          UNION ALL
          SELECT grade, state, clause_keys, -1 AS d FROM old_rows WHERE deleted_at IS NULL
        ) AS changed, unnest(clause_keys) AS k
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0
      )
      INSERT INTO %1$I.finding_tallies AS t (grade, state, clause_key, n)
      SELECT grade, state, clause_key, n FROM delta
      ON CONFLICT (grade, state, clause_key) DO UPDATE SET n = t.n + excluded.n
    $q$, TG_TABLE_SCHEMA,
      CASE WHEN TG_OP = 'UPDATE' THEN 'new_rows' ELSE '(SELECT * FROM old_rows WHERE false) AS nothing' END);
    -- A group that reached zero goes (a separate statement: the upsert's effects are
    -- not visible to other parts of the same statement).
    EXECUTE format('DELETE FROM %I.%I WHERE n = 0', TG_TABLE_SCHEMA, TG_ARGV[0]);
  END IF;
  RETURN NULL;
END
$fn$
"""

_ACTION_DELTA = """
CREATE FUNCTION capa_action_tally_delta() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE format($q$
      INSERT INTO %I.capa_action_tallies AS t (status, due_at, n)
      SELECT status, due_at, count(*) FROM new_rows WHERE deleted_at IS NULL GROUP BY 1, 2
      ON CONFLICT (status, due_at) DO UPDATE SET n = t.n + excluded.n
    $q$, TG_TABLE_SCHEMA);
  ELSE
    EXECUTE format($q$
      WITH delta AS (
        SELECT status, due_at, sum(d) AS n FROM (
          SELECT status, due_at, 1 AS d FROM %2$s WHERE deleted_at IS NULL
          UNION ALL
          SELECT status, due_at, -1 AS d FROM old_rows WHERE deleted_at IS NULL
        ) AS changed
        GROUP BY 1, 2 HAVING sum(d) <> 0
      )
      INSERT INTO %1$I.capa_action_tallies AS t (status, due_at, n)
      SELECT status, due_at, n FROM delta
      ON CONFLICT (status, due_at) DO UPDATE SET n = t.n + excluded.n
    $q$, TG_TABLE_SCHEMA,
      CASE WHEN TG_OP = 'UPDATE' THEN 'new_rows' ELSE '(SELECT * FROM old_rows WHERE false) AS nothing' END);
    -- A group that reached zero goes (a separate statement: the upsert's effects are
    -- not visible to other parts of the same statement).
    EXECUTE format('DELETE FROM %I.%I WHERE n = 0', TG_TABLE_SCHEMA, TG_ARGV[0]);
  END IF;
  RETURN NULL;
END
$fn$
"""

_RECOUNT = """
CREATE FUNCTION recount_tallies() RETURNS void LANGUAGE plpgsql SET search_path FROM CURRENT
AS $fn$
DECLARE s text := current_schema();
BEGIN
  EXECUTE format('DELETE FROM %I.finding_tallies', s);
  EXECUTE format($q$
    INSERT INTO %1$I.finding_tallies (grade, state, clause_key, n)
    SELECT grade, state, k, count(*) FROM %1$I.findings, unnest(clause_keys) AS k
    WHERE deleted_at IS NULL GROUP BY 1, 2, 3
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


def _triggers(table: str, function: str, tally: str) -> None:
    for event in ("INSERT", "UPDATE", "DELETE"):
        rows = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows"}.get(
            event, "OLD TABLE AS old_rows NEW TABLE AS new_rows"
        )
        op.execute(
            f"CREATE TRIGGER tally_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION {function}('{tally}')"
        )


def upgrade() -> None:
    op.create_index("ix_findings_created_at_id", "findings", ["created_at", "id"])
    # Undated findings sort last: the listing orders by this very expression.
    op.create_index(
        "ix_findings_due_id",
        "findings",
        [sa.text("coalesce(response_due_at, 'infinity'::date)"), "id"],
    )
    op.create_index("ix_findings_raised_at_id", "findings", ["raised_at", "id"])
    op.create_index("ix_capas_created_at_id", "capas", ["created_at", "id"])
    op.create_table(
        "finding_tallies",
        sa.Column("grade", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("clause_key", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("grade", "state", "clause_key", name="pk_finding_tallies"),
    )
    op.create_table(
        "capa_action_tallies",
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_at", sa.Date, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("status", "due_at", name="pk_capa_action_tallies"),
    )
    op.execute(_FINDING_DELTA)
    op.execute(_ACTION_DELTA)
    op.execute(_RECOUNT)
    _triggers("findings", "finding_tally_delta", "finding_tallies")
    _triggers("capa_actions", "capa_action_tally_delta", "capa_action_tallies")
    op.execute("SELECT recount_tallies()")


def downgrade() -> None:
    for table in ("findings", "capa_actions"):
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER tally_{event} ON {table}")
    op.drop_table("capa_action_tallies")
    op.drop_table("finding_tallies")
    op.execute("DROP FUNCTION recount_tallies()")
    op.execute("DROP FUNCTION capa_action_tally_delta()")
    op.execute("DROP FUNCTION finding_tally_delta()")
    op.drop_index("ix_capas_created_at_id", "capas")
    op.drop_index("ix_findings_raised_at_id", "findings")
    op.drop_index("ix_findings_due_id", "findings")
    op.drop_index("ix_findings_created_at_id", "findings")
