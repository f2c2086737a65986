"""A tenant's own identity over the API: its issuers, members, service accounts (tenant
admins) and each member's signing keys (the member)."""
