"""Control plane: identity providers, platform issuers, member keys, service accounts,
operators and break-glass grants.

Rows that belong to a tenant are deleted with it (ON DELETE CASCADE): offboarding keeps
the tenant row as a tombstone, so this only matters for hard deletes (test clean-up,
a provisioning row undone). Operators and their grants are history and are not cascaded
from a removed platform issuer; the tenant's event log keeps every grant regardless.

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "Ed25519")
MEMBER_KEY_ALGORITHMS = ("Ed25519", "ES256")


def _issuer_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("jwks_url", sa.Text),
        sa.Column("jwks", pg.JSONB),
        sa.Column("algorithms", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _issuer_checks(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint("(jwks_url is null) <> (jwks is null)", name=f"ck_{table}_one_key_source"),
        sa.CheckConstraint(
            f"cardinality(algorithms) > 0 and algorithms <@ array{list(ALGORITHMS)!r}::text[]",
            name=f"ck_{table}_algorithms",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "identity_providers",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant", sa.Text, sa.ForeignKey("accord.tenants.slug", ondelete="CASCADE"), nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        *_issuer_columns(),
        sa.UniqueConstraint("tenant", "issuer", name="uq_identity_providers_tenant_issuer"),
        *_issuer_checks("identity_providers"),
        schema="accord",
    )
    op.create_table(
        "platform_issuers",
        sa.Column("issuer", sa.Text, primary_key=True),
        *_issuer_columns(),
        *_issuer_checks("platform_issuers"),
        schema="accord",
    )
    op.create_table(
        "member_keys",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("member", pg.UUID(as_uuid=True), sa.ForeignKey("accord.members.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kid", sa.Text, nullable=False),
        sa.Column("alg", sa.Text, nullable=False),
        sa.Column("jwk", pg.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("member", "kid", name="uq_member_keys_member_kid"),
        sa.CheckConstraint(f"alg in {MEMBER_KEY_ALGORITHMS!r}", name="ck_member_keys_alg"),
        # Defence in depth: the service refuses private members, the table does too.
        sa.CheckConstraint(
            "not (jwk ?| array['d','p','q','dp','dq','qi','oth','k'])", name="ck_member_keys_public_only"
        ),
        schema="accord",
    )
    op.create_table(
        "service_accounts",
        sa.Column("client_id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, sa.ForeignKey("accord.tenants.slug", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="accord",
    )
    op.create_index("ix_service_accounts_tenant", "service_accounts", ["tenant"], schema="accord")
    op.create_table(
        "operators",
        sa.Column("issuer", sa.Text, sa.ForeignKey("accord.platform_issuers.issuer"), primary_key=True),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="accord",
    )
    op.create_table(
        "break_glass_grants",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("operator_issuer", sa.Text, nullable=False),
        sa.Column("operator_subject", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, sa.ForeignKey("accord.tenants.slug", ondelete="CASCADE"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["operator_issuer", "operator_subject"],
            ["accord.operators.issuer", "accord.operators.subject"],
            name="fk_break_glass_grants_operator",
        ),
        sa.CheckConstraint("char_length(btrim(reason)) >= 10", name="ck_break_glass_grants_reason"),
        sa.CheckConstraint(
            "expires_at > granted_at and expires_at <= granted_at + interval '24 hours'",
            name="ck_break_glass_grants_time_box",
        ),
        schema="accord",
    )
    op.create_index(
        "ix_break_glass_grants_lookup",
        "break_glass_grants",
        ["tenant", "operator_issuer", "operator_subject", "expires_at"],
        schema="accord",
    )


def downgrade() -> None:
    op.drop_table("break_glass_grants", schema="accord")
    op.drop_table("operators", schema="accord")
    op.drop_table("service_accounts", schema="accord")
    op.drop_table("member_keys", schema="accord")
    op.drop_table("platform_issuers", schema="accord")
    op.drop_table("identity_providers", schema="accord")
