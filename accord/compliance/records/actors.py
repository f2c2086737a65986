"""Who acts on a record: an actor is ``user:<tenant>/<subject>`` (``user:`` optional), or a
system actor such as ``system:audit-protocol``, which acts for no tenant."""

from __future__ import annotations

import re

from accord.platform.errors import BadInput
from accord.platform.naming import validate_slug

_ACTOR_RE = re.compile(r"^(?:user:)?(?P<tenant>[^/\s:]+)/(?P<subject>\S+)$")


def actor_tenant(actor: str) -> str | None:
    """The tenant an actor acts for: ``user:globex/li`` and ``globex/li`` name globex."""
    match = _ACTOR_RE.match(actor.strip())
    if match is None:
        return None
    try:
        return validate_slug(match["tenant"])
    except BadInput:
        return None
