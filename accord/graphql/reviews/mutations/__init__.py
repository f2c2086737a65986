"""Management review mutations, one per file; each returns a payload with ``errors``."""
