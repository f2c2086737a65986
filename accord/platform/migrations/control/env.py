"""Alembic environment of the control plane (schema ``accord`` on the home store).

Run through ``accord migrate``, which hands over an open connection in
``config.attributes["connection"]``.
"""

from alembic import context
from sqlalchemy import text

connection = context.config.attributes["connection"]
connection.execute(text("CREATE SCHEMA IF NOT EXISTS accord"))
context.configure(connection=connection, version_table_schema="accord")
with context.begin_transaction():
    context.run_migrations()
