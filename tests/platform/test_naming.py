import pytest

from accord.platform.errors import BadInput, ErrorCode
from accord.platform.naming import role_name, schema_name, validate_slug


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("", "SLUG_EMPTY"),
        ("a" * 41, "SLUG_TOO_LONG"),
        ("Northwind", "SLUG_UPPER_CASE"),
        ("n\u043erthwind", "SLUG_NOT_ASCII"),  # Cyrillic о
        ("ｎorthwind", "SLUG_NOT_ASCII"),  # full-width n
        ("a; drop schema accord", "SLUG_INVALID_CHARACTERS"),
        ("o'brien", "SLUG_INVALID_CHARACTERS"),
        ('quote"d', "SLUG_INVALID_CHARACTERS"),
        ("1abc", "SLUG_INVALID_CHARACTERS"),
        ("with-dash", "SLUG_INVALID_CHARACTERS"),
        ("accord", "SLUG_RESERVED"),
        ("catalog", "SLUG_RESERVED"),
        ("public", "SLUG_RESERVED"),
        ("information_schema", "SLUG_RESERVED"),
        ("pg_toast", "SLUG_RESERVED"),
    ],
)
def test_bad_slugs_are_refused_with_a_reason(slug: str, reason: str) -> None:
    with pytest.raises(BadInput) as info:
        validate_slug(slug)
    assert info.value.code == ErrorCode.BAD_USER_INPUT
    assert info.value.reason == reason
    assert info.value.field == "slug"


def test_names_derived_from_a_slug() -> None:
    assert validate_slug("northwind") == "northwind"
    assert validate_slug("a" * 40) == "a" * 40
    assert schema_name("northwind") == "t_northwind"
    assert role_name("north_wind2") == "accord_t_north_wind2"
