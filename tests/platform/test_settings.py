import pytest
from pydantic import ValidationError

from accord.platform.errors import BadInput
from accord.platform.settings import Settings, async_url, mask_url


def test_settings_read_accord_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_DATABASE_URL", "postgresql://app:s3cret@db.example:5432/accord")
    monkeypatch.setenv("ACCORD_ENV", "prod")
    monkeypatch.setenv(
        "ACCORD_STORES",
        '[{"name": "us-east", "region": "us-east", "url": "postgresql://u:pw@h/db"}]',
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.env == "prod"
    assert not settings.embedded
    effective = settings.effective()
    rendered = repr(effective)
    assert "s3cret" not in rendered and "pw@" not in rendered
    assert effective["database_url"] == "postgresql://app:***@db.example:5432/accord"
    assert effective["stores"][0]["name"] == "us-east"


def test_defaults_use_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.embedded
    assert str(settings.data_dir) == ".accord"
    assert "embedded" in settings.effective()["database_url"]


def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_ENV", "staging")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("ACCORD_ENV", "dev")
    monkeypatch.setenv(
        "ACCORD_STORES",
        '[{"name": "a", "region": "r", "url": "postgresql://h/x"},'
        ' {"name": "a", "region": "r", "url": "postgresql://h/y"}]',
    )
    with pytest.raises(ValidationError, match="unique"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_urls_are_normalised_to_the_async_driver() -> None:
    assert async_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    with pytest.raises(BadInput) as info:
        async_url("mysql://u@h/db")
    assert info.value.reason == "NOT_POSTGRESQL"
    assert mask_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
