"""The typed per-request context of the gateway, built by ``build_context`` only."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from graphql import GraphQLError

from accord.graphql.cursors import CursorSigner
from accord.graphql.loaders import Loaders, build_loaders
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer, PolicyEngine
from accord.policies.schemas import Actor, Decision, Resource
from accord.tenants.identity.principal import Principal

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class PolicyEngineMissing:
    """Stands in when the app's lifespan did not open the policy engine: every decision fails
    loudly (masked as INTERNAL) rather than being taken without the stored policies."""

    def authorize(self, principal: Actor, action: str, resource: Resource) -> Decision:
        raise RuntimeError("The policy engine is not running; was the app's lifespan started?")


@dataclass
class Context:
    runtime: Runtime
    #: None: no credentials were given (public fields only)
    principal: Principal | None
    #: the action gate, memoised for this request
    authorizer: Authorizer
    cursors: CursorSigner
    loaders: Loaders
    request_id: str
    #: change notifications for subscriptions (None: not running in this process)
    hub: NotificationHub | None = None
    #: partial failures (an owner that could not be read) reported next to the data
    errors: list[GraphQLError] = field(default_factory=list)


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def build_context(
    *,
    runtime: Runtime,
    principal: Principal | None,
    engine: PolicyEngine | None,
    cursors: CursorSigner,
    request_id: str,
    hub: NotificationHub | None = None,
) -> Context:
    return Context(
        runtime=runtime,
        principal=principal,
        authorizer=engine.for_request() if engine is not None else PolicyEngineMissing(),
        cursors=cursors,
        loaders=build_loaders(runtime),
        request_id=request_id,
        hub=hub,
    )
