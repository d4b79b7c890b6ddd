"""When a recurring job is due: a cron expression (parsed by croniter) in a time zone (zoneinfo), or a fixed
interval.

* A 5-field expression (``minute hour day month weekday``) or a 6-field one with seconds first
  (``second minute hour day month weekday``).
* Times are computed in the schedule's time zone, as croniter defines across daylight-saving changes: a local
  time skipped when clocks go forward runs at the first time that exists after it (``30 2 * * *`` in
  Europe/Berlin on the last Sunday of March runs at 03:00), and a local time that happens twice when clocks go
  back runs at both (``30 2 * * *`` runs at 02:30 summer time and, an hour later, at 02:30 winter time).
* ``every`` seconds: due at the multiples of the interval since the Unix epoch (``every=60`` at each whole
  minute), the same for every worker whatever its clock reads when it starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from croniter import croniter

__all__ = ["Schedule", "make_schedule"]


@dataclass(frozen=True)
class Schedule:
    """A checked schedule: exactly one of ``cron`` and ``every``; ``tz`` an IANA time zone name."""

    cron: str | None
    every: float | None
    tz: str = "UTC"

    def _iter(self, start: float) -> croniter:
        from croniter import croniter  # imported when a cron schedule is used: it takes a worker 30 ms to start

        assert self.cron is not None
        begin = datetime.fromtimestamp(start, ZoneInfo(self.tz))
        return croniter(self.cron, begin, second_at_beginning=len(self.cron.split()) == 6)

    def next_after(self, when: float) -> float:
        """The first due time strictly after ``when`` (epoch seconds)."""
        if self.every is not None:
            return (math.floor(when / self.every) + 1) * self.every
        return float(self._iter(when).get_next(float))

    def latest(self, start: float, now: float, most: int) -> list[float]:
        """Up to ``most`` due times from ``start`` to ``now`` (both included), the latest ones, oldest first."""
        found: list[float] = []
        if self.every is not None:
            t = math.floor(now / self.every) * self.every
            while t >= start - 1e-9 and len(found) < most:
                found.append(t)
                t -= self.every
        else:
            it = self._iter(now + 1e-6)
            while len(found) < most:
                t = float(it.get_prev(float))
                if t < start - 1e-9:
                    break
                found.append(t)
        return found[::-1]

    def describe(self) -> str:
        """The schedule as a person reads it: ``cron '*/5 * * * *' (UTC)`` or ``every 60 s``."""
        if self.every is not None:
            return f"every {self.every:g} s"
        return f"cron {self.cron!r} ({self.tz})"


def make_schedule(cron: Any = None, every: Any = None, tz: Any = "UTC") -> Schedule:
    """A checked :class:`Schedule`.

    Raises:
        ValueError: neither or both of ``cron`` and ``every``; an expression croniter refuses or with other than
            5 or 6 fields; ``every`` not a finite number of seconds > 0 (or a timedelta); an unknown time zone.
    """
    if (cron is None) == (every is None):
        raise ValueError("give a schedule: either cron='MIN HOUR DAY MONTH WEEKDAY' or every=SECONDS, not "
                         f"{'both' if cron is not None else 'neither'}")
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"tz must be an IANA time zone name such as 'Europe/Berlin', not {tz!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {tz!r}: give an IANA name such as 'UTC' or 'Europe/Berlin'") from None
    if every is not None:
        seconds = every.total_seconds() if isinstance(every, timedelta) else every
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or seconds <= 0:
            raise ValueError(f"every must be a finite number of seconds > 0 or a timedelta, not {every!r}")
        return Schedule(None, float(seconds), tz)
    from croniter import croniter

    fields = cron.split() if isinstance(cron, str) else []
    six = len(fields) == 6
    if len(fields) not in (5, 6) or not croniter.is_valid(" ".join(fields), second_at_beginning=six):
        raise ValueError(f"invalid cron expression {cron!r}: give 5 fields (minute hour day month weekday), or 6 "
                         "with seconds first, such as '*/5 * * * *'")
    return Schedule(" ".join(fields), None, tz)
