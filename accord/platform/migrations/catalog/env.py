"""Alembic environment of each store's shared ``catalog`` schema (standards reference data).

Applied to every store by ``accord migrate`` and at start-up in dev; the connection is
handed over in ``config.attributes["connection"]``.
"""

from alembic import context
from sqlalchemy import text

connection = context.config.attributes["connection"]
connection.execute(text("CREATE SCHEMA IF NOT EXISTS catalog"))
context.configure(connection=connection, version_table_schema="catalog")
with context.begin_transaction():
    context.run_migrations()
