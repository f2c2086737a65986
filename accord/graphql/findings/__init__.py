"""Findings in the gateway: types, the read queries, and the mutations (one per file)."""
