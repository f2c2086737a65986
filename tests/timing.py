"""The day tests reckon by: the product's own clock, read when a value is needed.

A constant taken at import would disagree with the product after midnight; reading
``accord.platform.clock`` at the moment of use agrees with what the code under test sees,
and follows a clock a test puts in place.
"""

from __future__ import annotations

from datetime import date, datetime

from accord.platform import clock


def today() -> date:
    return clock.today()


def now() -> datetime:
    return clock.now()
