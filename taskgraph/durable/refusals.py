"""What a worker checks in a record it claimed, before it runs anything.

A store holds whatever was written to it: by this code, by an older or newer one, by hand, or by someone hostile.
Every field a worker relies on is checked here, so that a record it cannot use fails alone, FAILED at once with a
:class:`~taskgraph.errors.RefusedJob` saying what is wrong with it, and the worker goes on serving other jobs. A
refusal is never retried: the record would be refused again.

A job runs in the mode its record says (a caller may choose ``thread`` or ``process`` per call), but only one its
function can run in: a record that says ``async`` for a plain function, or ``thread`` or ``process`` for an
``async def`` one, is refused before anything runs, since either would fail half way through.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from ..errors import RefusedJob
from ..stores.records import JobRecord
from .jobs import MODES, JobFunction, JobOptions

__all__ = ["check_record", "refused"]

_INT64 = (-(1 << 63), (1 << 63) - 1)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def refused(record: JobRecord, why: str) -> RefusedJob:
    """The error of a record a worker cannot use, ``why`` saying what is wrong with it."""
    name = record.name if isinstance(record.name, str) else _shown(record.name)
    return RefusedJob(f"job {record.id} ({_shown(name)}) was refused: {why}; it was not run and will not be retried")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    """A finite number that a float holds (a huge whole number in JSON would overflow the worker's clocks)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _whole(value) and abs(value) <= 1 << 53


def _check_fields(record: JobRecord) -> str | None:
    """What is wrong with the fields of ``record`` a store keeps beside its options, or None."""
    if not isinstance(record.name, str):  # text of no registered job fails as a LookupError, when looked up
        return f"its stored name {_shown(record.name)} is not text"
    if not isinstance(record.queue, str) or not record.queue:
        return f"its stored queue {_shown(record.queue)} is not a queue name"
    if not _whole(record.priority) or not _INT64[0] <= record.priority <= _INT64[1]:
        return f"its stored priority {_shown(record.priority)} is not a whole number of 64 bits"
    for field in ("not_before", "created"):
        value = getattr(record, field)
        if not _number(value):
            return f"its stored {field} {_shown(value)} is not a time (a finite number of seconds)"
    if not _whole(record.attempts) or record.attempts < 1:
        return f"its stored attempts {_shown(record.attempts)} is not a whole number >= 1"
    if record.progress is not None and not _number(record.progress):
        return f"its stored progress {_shown(record.progress)} is not a number"
    if record.progress_message is not None and not isinstance(record.progress_message, str):
        return f"its stored progress message {_shown(record.progress_message)} is not text"
    if not isinstance(record.payload, bytes):
        return f"its stored payload is {type(record.payload).__name__}, not bytes"
    return None


def _check_options(options: dict[str, Any], job: JobFunction) -> str | None:
    """What is wrong with a record's stored options (read as an object), or None."""
    if "damaged" in options:
        return str(options["damaged"]).partition(": ")[2] or str(options["damaged"])
    mode = options.get("mode", "thread")
    if mode not in MODES:
        return f"its stored mode {_shown(mode)} is none of {', '.join(MODES)}"
    if (mode == "async") != inspect.iscoroutinefunction(job.func):
        return (f"its stored mode is {mode!r}, but {job.name} is registered with mode {job.options.mode!r}"
                f"{'' if mode == 'async' else ' (an async def function)'}")
    retries = options.get("retries", 0)
    if not _whole(retries) or retries < 0:
        return f"its stored retries {_shown(retries)} is not a whole number >= 0"
    backoff = options.get("backoff", 1.0)
    if not _number(backoff) or backoff < 0:
        return f"its stored backoff {_shown(backoff)} is not a finite number of seconds >= 0"
    timeout = options.get("timeout")
    if timeout is not None and (not _number(timeout) or timeout <= 0):
        return f"its stored timeout {_shown(timeout)} is not a finite number of seconds > 0, nor null"
    if not isinstance(options.get("daemon", False), bool):
        return f"its stored daemon flag {_shown(options['daemon'])} is not true or false"
    if not isinstance(options.get("serializer", "json"), str):
        return f"its stored serializer {_shown(options['serializer'])} is not a serializer's name"
    return None


def check_record(record: JobRecord, job: JobFunction | None) -> JobOptions:
    """The options to run ``record`` with, once every field a worker relies on is checked; ``job`` is the function
    registered under its name, if any (None when the fields are checked before it is looked up).

    Raises:
        RefusedJob: the record cannot be used; the message says why.
    """
    why = _check_fields(record)
    if why is None and job is not None:
        why = _check_options(record.options, job)
    if why is not None:
        raise refused(record, why)
    if job is None:
        return JobOptions()
    stored = {k: v for k, v in record.options.items() if k in JobOptions.__dataclass_fields__}
    stored.update(priority=0, queue=job.options.queue)  # not the worker's to use: checked above
    try:
        return JobOptions.from_stored(stored)
    except (TypeError, ValueError) as exc:
        raise refused(record, f"its stored options cannot be used ({exc})") from None
