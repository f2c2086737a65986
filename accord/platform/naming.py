"""Tenant slugs and the database names derived from them.

A slug becomes part of a schema (``t_<slug>``) and a role (``accord_t_<slug>``) name, so
it is validated strictly here, once; identifiers are still always quoted when they reach
SQL (see ``accord.platform.db.quote_ident``).
"""

from __future__ import annotations

import re

from accord.platform.errors import BadInput

SLUG_MAX_LENGTH = 40
_SLUG_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_SLUGS = frozenset(
    {"accord", "catalog", "public", "information_schema", "postgres", "admin", "root", "tenant"}
)


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it may name a tenant, else raise ``BadInput`` saying why."""
    if not slug:
        raise BadInput("A tenant slug must not be empty.", reason="SLUG_EMPTY", field="slug")
    if len(slug) > SLUG_MAX_LENGTH:
        raise BadInput(
            f"A tenant slug has at most {SLUG_MAX_LENGTH} characters; got {len(slug)}.",
            reason="SLUG_TOO_LONG",
            field="slug",
        )
    if not slug.isascii():
        raise BadInput(
            "A tenant slug uses ASCII letters, digits and '_' only "
            "(look-alike characters from other scripts are refused).",
            reason="SLUG_NOT_ASCII",
            field="slug",
        )
    if slug != slug.lower():
        raise BadInput(
            "A tenant slug is lower case, e.g. 'northwind'.", reason="SLUG_UPPER_CASE", field="slug"
        )
    if not _SLUG_RE.match(slug):
        raise BadInput(
            "A tenant slug starts with a letter and contains only a-z, 0-9 and '_'.",
            reason="SLUG_INVALID_CHARACTERS",
            field="slug",
        )
    if slug in RESERVED_SLUGS or slug.startswith("pg_"):
        raise BadInput(
            f"'{slug}' is reserved and cannot name a tenant.", reason="SLUG_RESERVED", field="slug"
        )
    return slug


def schema_name(slug: str) -> str:
    return f"t_{validate_slug(slug)}"


def role_name(slug: str) -> str:
    return f"accord_t_{validate_slug(slug)}"
