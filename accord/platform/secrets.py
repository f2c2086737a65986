"""The key that encrypts secrets at rest (connector credentials, webhook secrets).

``ACCORD_SECRET_KEY`` (a Fernet key: 32 url-safe base64 bytes). In dev without it, a key
file under the data dir, created once with mode 0600 (``write_private_once``: two
processes starting together never write two different keys); in prod it is required.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from accord.platform.errors import AccordError, ErrorCode
from accord.platform.settings import Settings


class SecretKeySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore")
    secret_key: SecretStr | None = None


def secret_key(settings: Settings, *, purpose: str) -> bytes:
    """The Fernet key; ``purpose`` names what cannot be encrypted when it is missing."""
    configured = SecretKeySettings().secret_key
    if configured is not None:
        return configured.get_secret_value().encode()
    if settings.env == "prod":
        raise AccordError(
            f"ACCORD_SECRET_KEY is not set; {purpose} cannot be encrypted.",
            reason="SECRET_KEY_MISSING",
            code=ErrorCode.INTERNAL,
        )
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        write_private_once(path, Fernet.generate_key())
    return path.read_bytes().strip()


def write_private_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless it exists: under a private temporary name with
    mode 0600 from the start, then linked into place, so the file is never readable by
    others and of two processes creating it at once both use the one that won."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def local_key(path: Path, *, size: int) -> bytes:
    """The random key of ``size`` bytes kept in ``path`` (a data directory's own), made on
    first use (``write_private_once``)."""
    if not path.exists():
        write_private_once(path, secrets.token_bytes(size))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    key = path.read_bytes()
    if len(key) < size:
        raise AccordError(
            f"{path} holds {len(key)} bytes, not a key of {size}; delete it to make a new one.",
            reason="BAD_KEY_FILE",
            code=ErrorCode.INTERNAL,
        )
    return key


def local_passwords(path: Path, logins: Sequence[str]) -> dict[str, str]:
    """The generated password of each of ``logins`` kept in ``path`` (a data directory's
    own, 0600), made on first use."""
    if not path.exists():
        generated = {login: secrets.token_urlsafe(24) for login in logins}
        write_private_once(path, json.dumps(generated, indent=2).encode())
    try:
        passwords = json.loads(path.read_text())
        if isinstance(passwords, dict) and set(logins) <= set(passwords):
            return {str(k): str(v) for k, v in passwords.items()}
    except (OSError, ValueError):
        pass
    raise AccordError(
        f"{path} does not hold the passwords of {', '.join(logins)}; restore it, or start "
        "the server it belongs to afresh.",
        reason="LOGINS_FILE_BROKEN",
        code=ErrorCode.INTERNAL,
    )
