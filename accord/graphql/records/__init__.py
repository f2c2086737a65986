"""Reads of every record type of the shared schema, and of the caller's own sharing setup."""
