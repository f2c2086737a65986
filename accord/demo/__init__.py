"""The demo partner network (README, "Two commands"): four partners over two stores.

`network` creates the partners, their people and tokens; `records` writes the story's
records through the services; `raci` imports the shared processes and the first review
signatures. `accord demo` uses what is re-exported here.
"""

from accord.demo.network import (
    HOME_REGION,
    HOME_STORE,
    TRY_QUERY,
    US_REGION,
    US_STORE,
    demo_settings,
    demo_tokens,
    seed_demo,
)

__all__ = [
    "HOME_REGION",
    "HOME_STORE",
    "TRY_QUERY",
    "US_REGION",
    "US_STORE",
    "demo_settings",
    "demo_tokens",
    "seed_demo",
]
