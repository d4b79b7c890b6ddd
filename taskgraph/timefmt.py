"""Durations and times of day as people read them: one style for the terminal views, the CLI and the HTML review
(which is why nothing here needs rich)."""

from __future__ import annotations

import time

__all__ = ["duration", "stopwatch", "clock"]


def duration(seconds: float | None) -> str:
    """``0.12 s``, ``12.3 s``, ``2m05s``, ``1h02m``, ``3d04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 59.95:
        return f"{seconds:.2f} s" if seconds < 9.995 else f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def stopwatch(seconds: float) -> str:
    """Elapsed time or an estimate, as a stopwatch shows it: ``0:07``, ``12:30``, ``1:02:03``."""
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def clock(epoch: float, now: float | None = None) -> str:
    """A local time of day: ``14:03:07`` on the day of ``now`` (today), ``2024-05-01 14:03`` on another."""
    moment, today = time.localtime(epoch), time.localtime(time.time() if now is None else now)
    return time.strftime("%H:%M:%S" if moment[:3] == today[:3] else "%Y-%m-%d %H:%M", moment)
