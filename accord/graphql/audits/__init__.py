"""Joint audits in the gateway: plan one, staff its team, raise and verify its findings
under the agreed closing protocol (one mutation per file)."""
