"""Baseline rights: what a tenant's own members may do with the tenant's own records.

| role            | inherits    | adds                                                     |
|-----------------|-------------|----------------------------------------------------------|
| viewer          | –           | read every record type                                   |
| (contributor)   | viewer      | comment on every record type (internal, not assignable)  |
| auditor         | contributor | verify findings, CAPA, CAPA actions, audits, evidence    |
| executive       | contributor | approve management reviews, risks, CAPA; sign reviews    |
| admin           | contributor | notify and sync (connectors) on every record type        |
| quality_manager | auditor     | every action on every record type except sign, administer|
| tenant_admin    | viewer      | administer the tenant: identity providers, members,      |
|                 |             | service accounts (record type ``tenant``)                |

Baseline rules hold only in the member's own domain (the role names carry the tenant),
and a shared process overrides them for the actions its matrix governs: only the
Responsible/Accountable parties may then do those (see ``compile``).
"""

from __future__ import annotations

from collections.abc import Iterable

from accord.policies.vocab import ACTIONS, ANY, role_subject

BASELINE_PARENTS: dict[str, tuple[str, ...]] = {
    "viewer": (),
    "contributor": ("viewer",),
    "auditor": ("contributor",),
    "executive": ("contributor",),
    "admin": ("contributor",),
    "quality_manager": ("auditor",),
    "tenant_admin": ("viewer",),
}
_EVERY = (ANY,)
BASELINE_GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "viewer": {"read": _EVERY},
    "contributor": {"comment": _EVERY},
    "auditor": {"verify": ("finding", "capa", "capa_action", "audit", "evidence")},
    "executive": {
        "approve": ("management_review", "risk", "capa"),
        "sign": ("management_review",),
    },
    "admin": {"notify": _EVERY, "sync": _EVERY},
    "quality_manager": {
        a: _EVERY for a in ACTIONS if a not in {"sign", "read", "comment", "administer"}
    },
    "tenant_admin": {"administer": ("tenant",)},
}


def baseline_rules(domain: str) -> list[list[str]]:
    """The ``p`` rules of ``domain``'s own roles (record type "*" = every type)."""
    return [
        [role_subject(domain, role), domain, record_type, ANY, action, "allow"]
        for role, grants in BASELINE_GRANTS.items()
        for action, record_types in grants.items()
        for record_type in record_types
    ]


def hierarchy_links(tenant: str) -> list[list[str]]:
    """Tenant-role inheritance as ``g`` links in domain "*": it holds wherever the role acts."""
    return [
        [role_subject(tenant, role), role_subject(tenant, parent), ANY]
        for role, parents in BASELINE_PARENTS.items()
        for parent in parents
    ]


def role_closure(roles: Iterable[str]) -> set[str]:
    """``roles`` and every role they inherit."""
    seen: set[str] = set()
    stack = [r for r in roles if r in BASELINE_PARENTS]
    while stack:
        role = stack.pop()
        if role not in seen:
            seen.add(role)
            stack.extend(BASELINE_PARENTS[role])
    return seen


def baseline_allows(roles: Iterable[str], action: str, record_type: str) -> str | None:
    """The role (of ``roles``' closure) whose own baseline grants ``action``, if any."""
    for role in sorted(role_closure(roles)):
        types = BASELINE_GRANTS[role].get(action, ())
        if ANY in types or record_type in types:
            return role
    return None
