"""Joint audit mutations, one per file; each returns a payload with ``errors``."""
