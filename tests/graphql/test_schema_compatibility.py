"""No breaking change to the schema unless it is deliberate: compared with the last
released schema (``schema/released-0.1.0.graphql``) by graphql-core's
``find_breaking_changes``, each breaking change must be listed in ``CHANGELOG.md``'s
Unreleased section, and a field or enum value is removed only after a release that
deprecated it."""

from __future__ import annotations

import re

from graphql import (
    BreakingChange,
    BreakingChangeType,
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
)

from accord.commands.schema import render_sdl
from tests.conftest import REPO

RELEASED = REPO / "schema" / "released-0.1.0.graphql"
CHANGELOG = REPO / "CHANGELOG.md"


def unreleased_notes() -> str:
    text = CHANGELOG.read_text()
    start = text.index("## Unreleased")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _deprecated_in(schema: GraphQLSchema, description: str) -> bool:
    """Whether what ``description`` says was removed ("Field Type.name was removed.") was
    deprecated in ``schema``."""
    found = re.search(r"\b(\w+)\.(\w+)\b", description)
    if found is None:
        return False
    type_name, member = found.groups()
    named = schema.get_type(type_name)
    if isinstance(named, GraphQLEnumType):
        value = named.values.get(member)
        return value is not None and value.deprecation_reason is not None
    field = getattr(named, "fields", {}).get(member)
    return field is not None and getattr(field, "deprecation_reason", None) is not None


def undeclared_breaks(released: GraphQLSchema, current: GraphQLSchema) -> list[BreakingChange]:
    notes = unreleased_notes()
    bad = []
    for change in find_breaking_changes(released, current):
        listed = change.description in notes
        removal = change.type in (
            BreakingChangeType.FIELD_REMOVED,
            BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
        )
        if not listed or (removal and not _deprecated_in(released, change.description)):
            bad.append(change)
    return bad


def test_the_schema_breaks_nothing_undeclared() -> None:
    released = build_schema(RELEASED.read_text())
    current = build_schema(render_sdl())
    bad = undeclared_breaks(released, current)
    assert not bad, "\n".join(
        f"{c.type.name}: {c.description} (deprecate first, or list it in CHANGELOG.md)" for c in bad
    )


def _without_field(sdl: str, type_name: str, field: str) -> GraphQLSchema:
    """The schema of ``sdl`` less one field."""
    schema = build_schema(sdl)
    named = schema.get_type(type_name)
    assert isinstance(named, GraphQLObjectType)
    del named.fields[field]
    return schema


def test_a_removed_field_is_caught() -> None:
    sdl = render_sdl()
    bad = undeclared_breaks(build_schema(sdl), _without_field(sdl, "CapaError", "reasonCode"))
    assert [(c.type, c.description) for c in bad] == [
        (BreakingChangeType.FIELD_REMOVED, "Field CapaError.reasonCode was removed.")
    ]


def test_a_deprecated_field_may_go_once_listed() -> None:
    sdl = render_sdl()
    released = build_schema(sdl)
    changes = find_breaking_changes(released, _without_field(sdl, "CapaError", "reason"))
    assert [c.description for c in changes] == ["Field CapaError.reason was removed."]
    assert _deprecated_in(released, changes[0].description)
