"""Accord's settings, read from ``ACCORD_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

from accord.platform.errors import BadInput

_STORE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
#: A data directory's own settings (``accord demo`` writes one): the network it belongs to.
DATA_DIR_SETTINGS = "settings.json"
DATA_DIR_KEYS = ("database_url", "migrator_database_url", "home_store", "home_region", "stores")


class StoreConfig(BaseModel):
    """A PostgreSQL server that holds tenant schemas, declared by configuration."""

    name: str = Field(pattern=_STORE_NAME_PATTERN)
    region: str = Field(min_length=1, max_length=64)
    url: SecretStr
    migrator_url: SecretStr | None = Field(
        default=None,
        description="The migrator login on this store (provisioning, migrations); "
        "unset in the API's environment.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ACCORD_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="Home store (control plane) as the API's login. Unset: an embedded "
        "PostgreSQL under data_dir.",
    )
    migrator_database_url: SecretStr | None = Field(
        default=None,
        description="Home store as the migrator login (provisioning, migrations); never "
        "given to the API process. Unset with an embedded store: its own migrator login.",
    )
    home_store: str = Field(default="home", pattern=_STORE_NAME_PATTERN)
    home_region: str = "local"
    stores: list[StoreConfig] = Field(
        default_factory=list,
        description='Extra stores as JSON: [{"name": "us-east", "region": "us-east", "url": …}]',
    )
    data_dir: Path = Path(".accord")
    env: Literal["dev", "prod"] = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    telemetry_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint (e.g. http://collector:4318); unset, and no "
        "OTEL_EXPORTER_OTLP_*ENDPOINT variable set, means no traces or metrics are exported.",
    )
    telemetry_prometheus: bool = Field(
        default=False, description="Serve the metrics on /metrics in Prometheus' text format."
    )
    pool_size: int = Field(default=5, ge=1, le=100)
    pool_max_overflow: int = Field(default=10, ge=0, le=200)
    rate_limit_per_second: float = Field(
        default=50.0,
        gt=0,
        description="GraphQL requests per second each tenant may make (per API process).",
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="Requests a tenant may make at once above the rate."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Pointing ACCORD_DATA_DIR at a data directory is enough to reach its network; the
        # environment still overrides what the directory's settings file says.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            DataDirSettings(settings_cls, init_settings, env_settings, dotenv_settings),
            file_secret_settings,
        )

    @field_validator("stores")
    @classmethod
    def _unique_store_names(cls, stores: list[StoreConfig]) -> list[StoreConfig]:
        names = [s.name for s in stores]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"store names must be unique; repeated: {', '.join(duplicates)}")
        return stores

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def effective(self) -> dict[str, Any]:
        """The settings as a plain dict with every secret masked, for ``accord config``."""
        return {
            "database_url": (
                mask_url(self.database_url.get_secret_value())
                if self.database_url
                else f"(embedded PostgreSQL under {self.data_dir / 'postgres'})"
            ),
            "migrator_database_url": (
                mask_url(self.migrator_database_url.get_secret_value())
                if self.migrator_database_url
                else None
            ),
            "home_store": self.home_store,
            "home_region": self.home_region,
            "stores": [
                {
                    "name": s.name,
                    "region": s.region,
                    "url": mask_url(s.url.get_secret_value()),
                    **(
                        {"migrator_url": mask_url(s.migrator_url.get_secret_value())}
                        if s.migrator_url
                        else {}
                    ),
                }
                for s in self.stores
            ],
            "data_dir": str(self.data_dir),
            "env": self.env,
            "log_level": self.log_level,
            "telemetry_endpoint": self.telemetry_endpoint,
            "telemetry_prometheus": self.telemetry_prometheus,
            "pool_size": self.pool_size,
            "pool_max_overflow": self.pool_max_overflow,
            "rate_limit_per_second": self.rate_limit_per_second,
            "rate_limit_burst": self.rate_limit_burst,
            "host": self.host,
            "port": self.port,
        }


class DataDirSettings(JsonConfigSettingsSource):
    """``<data_dir>/settings.json``: the store settings of the network a data directory holds.

    The data directory is the one the other sources name (``ACCORD_DATA_DIR``), else the
    default; only the keys of :data:`DATA_DIR_KEYS` are read from the file.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource
    ) -> None:
        data_dir: Any = settings_cls.model_fields["data_dir"].default
        for source in reversed(sources):  # the first source named wins
            data_dir = source().get("data_dir", data_dir)
        self.path = Path(data_dir) / DATA_DIR_SETTINGS
        super().__init__(settings_cls, json_file=self.path if self.path.is_file() else None)

    def __call__(self) -> dict[str, Any]:
        try:
            values = super().__call__()
        except ValueError as exc:
            raise ValueError(f"{self.path} is not a JSON object of settings: {exc}") from exc
        return {k: v for k, v in values.items() if k in DATA_DIR_KEYS}

    def __repr__(self) -> str:
        return f"DataDirSettings(path={self.path})"


def write_data_dir_settings(settings: Settings) -> Path:
    """Record ``settings``' network in its data directory (0600: it may hold URLs)."""
    values: dict[str, Any] = {
        "home_store": settings.home_store,
        "home_region": settings.home_region,
        "stores": [
            {
                "name": s.name,
                "region": s.region,
                "url": s.url.get_secret_value(),
                **({"migrator_url": s.migrator_url.get_secret_value()} if s.migrator_url else {}),
            }
            for s in settings.stores
        ],
    }
    if settings.database_url is not None:
        values["database_url"] = settings.database_url.get_secret_value()
    if settings.migrator_database_url is not None:
        values["migrator_database_url"] = settings.migrator_database_url.get_secret_value()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / DATA_DIR_SETTINGS
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    return path


def async_url(url: str) -> str:
    """Normalise a PostgreSQL URL to SQLAlchemy's async psycopg driver."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise BadInput(f"Not a database URL: {mask_url(url)}", reason="BAD_DATABASE_URL") from exc
    if parsed.get_backend_name() != "postgresql":
        raise BadInput(
            "Accord stores are PostgreSQL servers; the URL must start with postgresql://",
            reason="NOT_POSTGRESQL",
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "***"
