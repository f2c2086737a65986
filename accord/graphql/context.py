"""The typed per-request context of the gateway."""

from __future__ import annotations

from dataclasses import dataclass

from accord.platform.runtime import Runtime


@dataclass
class Context:
    runtime: Runtime


def build_context(*, runtime: Runtime) -> Context:
    return Context(runtime=runtime)
