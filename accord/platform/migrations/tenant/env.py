"""Alembic environment of the tenant plane, applied to one tenant schema at a time.

``accord migrate`` (and provisioning) hand over an open connection and the schema in
``config.attributes``. Scripts create unqualified objects; a transaction-local
search_path places them in the tenant's schema, so no schema name is formatted into SQL.
"""

from alembic import context
from sqlalchemy import func, select

connection = context.config.attributes["connection"]
schema = context.config.attributes["tenant_schema"]
connection.execute(select(func.set_config("search_path", schema, True)))
context.configure(connection=connection, version_table_schema=schema)
with context.begin_transaction():
    context.run_migrations()
