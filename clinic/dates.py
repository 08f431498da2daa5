"""Ages in completed years, and the birth dates that bound them: one rule for 29 February everywhere.

Someone born on 29 February turns a year older on 1 March in a year without one. `years_before` is the matching
cut-off: born on or before `years_before(day=d, years=n)` exactly when `age_on(birth=b, on=d) >= n`.
"""

from __future__ import annotations

import datetime as dt


def age_on(*, birth: dt.date, on: dt.date) -> int:
    """Completed years from `birth` to `on`."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def years_before(*, day: dt.date, years: int) -> dt.date:
    """The same day of the year `years` earlier; 29 February falls back to 28 February in a year without one."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
