"""Tenant plane: change notifications for subscriptions (LISTEN/NOTIFY, across replicas).

* ``event_log`` — after each inserting statement, one ``accord_events`` notification:
  ``{"schema", "first", "last"}`` (the sequence range the statement appended). A sync page
  appends its events in one statement, so a page is one notification whatever its size;
  the listener reads the range from the log (payloads stay far below NOTIFY's 8 kB).
* ``sync_runs`` — after each insert or update of a run, one ``accord_sync`` notification
  with the run's id, status and counts (each committed page updates its run once).

Notifications are delivered at commit, so nothing rolled back is ever announced.

Revision ID: t0011
Revises: t0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "t0011"
down_revision = "t0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE lo bigint; hi bigint;
        BEGIN
          SELECT min(seq), max(seq) INTO lo, hi FROM appended;
          IF lo IS NOT NULL THEN
            PERFORM pg_notify('accord_events', json_build_object(
              'schema', TG_TABLE_SCHEMA, 'first', lo, 'last', hi)::text);
          END IF;
          RETURN NULL;
        END
        $fn$
        """
    )
    op.execute(
        "CREATE TRIGGER notify_events AFTER INSERT ON event_log REFERENCING NEW TABLE AS "
        "appended FOR EACH STATEMENT EXECUTE FUNCTION notify_events()"
    )
    op.execute(
        """
        CREATE FUNCTION notify_sync() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          PERFORM pg_notify('accord_sync', json_build_object(
            'schema', TG_TABLE_SCHEMA, 'run', NEW.id, 'status', NEW.status,
            'stream', NEW.stream, 'instance', NEW.instance_name,
            'pages', NEW.pages, 'fetched', NEW.fetched, 'created', NEW.created,
            'updated', NEW.updated, 'unchanged', NEW.unchanged,
            'quarantined', NEW.quarantined, 'error', left(NEW.error, 500))::text);
          RETURN NULL;
        END
        $fn$
        """
    )
    op.execute(
        "CREATE TRIGGER notify_sync AFTER INSERT OR UPDATE ON sync_runs "
        "FOR EACH ROW EXECUTE FUNCTION notify_sync()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER notify_sync ON sync_runs")
    op.execute("DROP FUNCTION notify_sync()")
    op.execute("DROP TRIGGER notify_events ON event_log")
    op.execute("DROP FUNCTION notify_events()")
