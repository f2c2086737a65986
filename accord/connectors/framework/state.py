"""Typed sync state: what a stream's bookmark row holds (never a dict of magic keys)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Bookmark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Highest replication value of the last *complete* pass; the next pass asks for newer.
    replication_value: str | None = None
    #: Where an unfinished pass continues (the page after the last committed one).
    resume: str | None = None
    #: Highest replication value seen so far in the unfinished pass.
    pass_high_water: str | None = None
    #: Completed passes, for status output.
    passes: int = 0
    #: Where the next pass starts on a source that hands out change links (OData
    #: ``@odata.deltaLink``): an opaque URL, so it cannot be compared, only replaced.
    delta_link: str | None = None

    def after_page(
        self, cursor: str | None, high_water: str | None, delta_link: str | None = None
    ) -> Bookmark:
        seen = max(filter(None, (self.pass_high_water, high_water)), default=None)
        if cursor is not None:
            return self.model_copy(update={"resume": cursor, "pass_high_water": seen})
        # Only a finished pass moves the bookmark: pages need not be ordered by the key.
        best = max(filter(None, (self.replication_value, seen)), default=None)
        return Bookmark(replication_value=best, passes=self.passes + 1, delta_link=delta_link)
