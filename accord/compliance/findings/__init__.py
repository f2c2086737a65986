"""Audit findings and their life cycle (open → … → closed, reopened)."""
