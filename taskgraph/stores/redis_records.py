"""Job hashes of the Redis store read back as records: each field from the bytes Redis gives, a damaged one kept as
text so that reading it never fails (used by :mod:`.redis` and :mod:`.views_redis`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .records import JobRecord, record_from_row

__all__ = ["_field", "_record", "_number"]

# how to read each field of a job hash, in JobRecord order (Redis gives bytes): text, or a number, or as it is
_TEXT = frozenset({0, 1, 2, 3, 4, 17, 20})
_NUMBER = {5: int, 10: int, 11: int, 12: int, 13: float, 14: float, 15: float, 16: float, 18: float, 19: float}


def _field(i: int, value: Any) -> Any:
    """A field of a job hash as a record holds it. A damaged one (a number that is not one, text that is not
    UTF-8) is kept as text, so that reading it never fails: a worker refuses the job, saying which field."""
    if value is None or (i not in _TEXT and i not in _NUMBER):
        return value
    text = value.decode(errors="replace")
    if i in _TEXT:
        return text
    try:
        return _NUMBER[i](text)
    except ValueError:
        return text


def _record(row: Sequence[Any]) -> JobRecord:
    try:
        return record_from_row([
            v if v is None else v.decode() if i in _TEXT else _NUMBER[i](v) if i in _NUMBER else v
            for i, v in enumerate(row)
        ])
    except ValueError:  # a damaged field (UnicodeDecodeError is one too)
        return record_from_row([_field(i, v) for i, v in enumerate(row)])


def _number(value: Any) -> float:
    """A time field as a number; a damaged one (text) as 0."""
    return float(value) if isinstance(value, (int, float)) else 0.0
