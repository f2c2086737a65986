"""Typed connector configuration, and its secrets encrypted at rest with Fernet.

The key comes from ``ACCORD_SECRET_KEY`` (a Fernet key: 32 url-safe base64 bytes). In dev
without it, one is generated once under the data dir with mode 0600, so a developer's
instances keep working across runs; in prod a missing key is an error, never a default.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from accord.connectors.framework.auth import (
    ApiKeyAuth,
    Authenticator,
    BasicAuth,
    OAuth2ClientCredentials,
)
from accord.connectors.framework.http import RetryPolicy, SourceClient
from accord.platform.errors import BadInput
from accord.platform.secrets import secret_key as platform_secret_key
from accord.platform.settings import Settings

MASK = "**********"


class NoAuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["none"] = "none"


class BasicAuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"] = "basic"
    username: str
    password: SecretStr


class ApiKeyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["api_key"] = "api_key"
    key: SecretStr
    header: str = "APIKey"


class OAuth2Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["oauth2"] = "oauth2"
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None


AuthConfig = Annotated[
    NoAuthConfig | BasicAuthConfig | ApiKeyConfig | OAuth2Config, Field(discriminator="type")
]


class SourceConfig(BaseModel):
    """What every source accepts; a source subclasses it with its own fields."""

    model_config = ConfigDict(extra="forbid")
    auth: AuthConfig = Field(default_factory=NoAuthConfig)
    page_size: int = Field(default=1000, ge=1, le=50_000)
    timeout_seconds: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64)
    retry_attempts: int = Field(default=6, ge=1, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0)
    max_backoff_seconds: float = Field(default=60.0, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)

    def authenticator(self) -> Authenticator:
        auth = self.auth
        if isinstance(auth, BasicAuthConfig):
            return BasicAuth(auth.username, auth.password)
        if isinstance(auth, ApiKeyConfig):
            return ApiKeyAuth(auth.key, auth.header)
        if isinstance(auth, OAuth2Config):
            return OAuth2ClientCredentials(
                auth.token_url, auth.client_id, auth.client_secret, auth.scope
            )
        return Authenticator()

    def client(self, base_url: str) -> SourceClient:
        return SourceClient(
            base_url=base_url,
            auth=self.authenticator(),
            timeout=self.timeout_seconds,
            concurrency=self.concurrency,
            retry=RetryPolicy(
                attempts=self.retry_attempts,
                base_seconds=self.backoff_seconds,
                max_seconds=self.max_backoff_seconds,
            ),
            headers=self.headers,
        )


def secret_key(settings: Settings) -> bytes:
    return platform_secret_key(settings, purpose="connector secrets")


def _split(value: Any, path: str, secrets: dict[str, str]) -> Any:
    if isinstance(value, SecretStr):
        secrets[path] = value.get_secret_value()
        return MASK
    if isinstance(value, BaseModel):
        value = {k: getattr(value, k) for k in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _split(v, f"{path}/{k}", secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_split(v, f"{path}/{i}", secrets) for i, v in enumerate(value)]
    return value


def seal(config: SourceConfig, key: bytes) -> tuple[dict[str, Any], str | None]:
    """(config with secrets masked, Fernet token of the secrets or None)."""
    secrets: dict[str, str] = {}
    public = _split(config, "", secrets)
    token = Fernet(key).encrypt(json.dumps(secrets).encode()).decode() if secrets else None
    return json.loads(json.dumps(public, default=str)), token


def unseal(
    model: type[SourceConfig], public: dict[str, Any], token: str | None, key: bytes
) -> SourceConfig:
    values = json.loads(json.dumps(public))
    if token:
        try:
            secrets: dict[str, str] = json.loads(Fernet(key).decrypt(token.encode()))
        except InvalidToken:
            raise BadInput(
                "The connector's secrets cannot be decrypted with ACCORD_SECRET_KEY.",
                reason="SECRET_KEY_MISMATCH",
            ) from None
        for path, secret in secrets.items():
            *parents, last = path.strip("/").split("/")
            node = values
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[last] = secret
    return model.model_validate(values)
