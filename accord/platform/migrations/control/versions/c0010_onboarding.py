"""Control plane: what onboarding a partner needs to record.

- ``members.removed_at``: a removed member signs in no more, but the row stays, so the
  keys it signed with still verify what they signed while valid (its keys are revoked
  at removal; a key set exported later still lists them with their windows).
- ``service_accounts.secret_hash``: a client secret Accord issued, as a scrypt hash
  (null: the account's tokens come from the tenant's own IdP).
- ``identity_providers.discovery_url``: where the registration was discovered (null:
  registered with an explicit JWKS URL or inline keys).

Revision ID: c0010
Revises: c0002 (identity; c0001 holds members)
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0010"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("removed_at", sa.DateTime(timezone=True)), schema="accord")
    op.add_column("service_accounts", sa.Column("secret_hash", sa.Text), schema="accord")
    op.add_column("identity_providers", sa.Column("discovery_url", sa.Text), schema="accord")


def downgrade() -> None:
    op.drop_column("identity_providers", "discovery_url", schema="accord")
    op.drop_column("service_accounts", "secret_hash", schema="accord")
    op.drop_column("members", "removed_at", schema="accord")
