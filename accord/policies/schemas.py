"""What the action gate decides about, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from accord.platform.errors import BadInput
from accord.policies.vocab import NO_PROCESS


class Actor(Protocol):
    """Whoever asks: any principal with a tenant (None for platform operators), a subject and
    tenant roles — ``accord.tenants.identity.principal.Principal`` is one."""

    @property
    def tenant(self) -> str | None: ...

    @property
    def subject(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user: their tenant, subject (``sub`` of the token) and tenant roles."""

    tenant: str
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, tenant: str, subject: str, *roles: str) -> Principal:
        return cls(tenant=tenant, subject=subject, roles=frozenset(roles))

    @property
    def name(self) -> str:
        return f"{self.tenant}/{self.subject}"


@dataclass(frozen=True, slots=True)
class Resource:
    """A record as the gate sees it: its owner tenant, its type, its shared process if any."""

    owner: str
    record_type: str
    process: str | None = None

    @classmethod
    def parse(cls, text: str) -> Resource:
        """``OWNER/TYPE[/PROCESS]`` (the CLI's notation)."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadInput(
                f"'{text}' is not OWNER/TYPE[/PROCESS].", reason="BAD_RESOURCE", field="resource"
            )
        return cls(
            owner=parts[0], record_type=parts[1], process=parts[2] if len(parts) == 3 else None
        )

    @property
    def process_value(self) -> str:
        return self.process or NO_PROCESS

    def describe(self) -> str:
        where = f" in process '{self.process}'" if self.process else ""
        return f"{self.record_type} records of {self.owner}{where}"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str | None
    explain: str
