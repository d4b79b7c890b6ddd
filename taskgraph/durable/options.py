"""What a submission may hold, checked at the caller before anything is stored: job options, job ids, metadata.

Each refusal is a :class:`ValueError` whose message starts with the option's name, then what is allowed and the
value given, then the job (``priority must be a whole number from -2147483648 to 2147483647, not 'high' (job
app:send)``).
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

__all__ = [
    "MODES", "PRIORITY_MIN", "PRIORITY_MAX", "MAX_QUEUE", "MAX_ID", "MAX_METADATA", "check_option", "check_id",
    "check_metadata", "canonical_id",
]

MODES = ("thread", "process", "async")

#: The range of priorities: 32-bit, which every store holds (SQLite and PostgreSQL keep 64 bits, Redis's order
#: key 64 bits) with room to spare.
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1

#: The longest queue name. A queue name is 1 to this many printable characters, without whitespace (which a log
#: line or a shell would split) or commas (which separate the queues of ``taskgraph worker --queues a,b``).
MAX_QUEUE = 100

#: The longest job id a caller may give.
MAX_ID = 200

#: The largest metadata, in bytes of its JSON text.
MAX_METADATA = 64 * 1024


def _job(name: str | None) -> str:
    return f" (job {name})" if name else ""


def _printable(text: Any, longest: int) -> bool:
    """Whether ``text`` is a string of 1 to ``longest`` printable characters without whitespace."""
    return (isinstance(text, str) and 0 < len(text) <= longest and text.isprintable()
            and not any(c.isspace() for c in text))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_option(job: str | None, option: str, value: Any) -> None:
    """Refuse a bad value of a job option (those of :class:`~taskgraph.durable.jobs.JobOptions`).

    Args:
        job: the job's name, for the message (None before the job has one).
        option: ``mode``, ``retries``, ``backoff``, ``timeout``, ``priority``, ``queue`` or ``daemon``.
        value: the value given; None is allowed only for ``timeout`` (no limit).

    Raises:
        ValueError: the value is of the wrong type or out of range; the message names the option, what is allowed,
            the value and the job.
    """
    allowed: str | None = None
    if option == "mode":
        if value not in MODES:
            allowed = f"one of {', '.join(MODES)}"
    elif option == "retries":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            allowed = "a whole number >= 0"
    elif option == "backoff":
        # 0 is allowed: retries run again at once (a job that fails fast and may simply be repeated)
        if not _number(value) or not math.isfinite(value) or value < 0:
            allowed = "a finite number of seconds >= 0"
    elif option == "timeout":
        if value is not None and (not _number(value) or not math.isfinite(value) or value <= 0):
            allowed = "a finite number of seconds > 0, or None for no limit"
    elif option == "priority":
        if not isinstance(value, int) or isinstance(value, bool) or not PRIORITY_MIN <= value <= PRIORITY_MAX:
            allowed = f"a whole number from {PRIORITY_MIN} to {PRIORITY_MAX}"
    elif option == "queue":
        if not _printable(value, MAX_QUEUE) or "," in value:
            allowed = f"a name of 1 to {MAX_QUEUE} printable characters without spaces or commas"
    elif option == "daemon":
        if not isinstance(value, bool):
            allowed = "True or False"
    else:
        raise ValueError(f"unknown job option {option!r}{_job(job)}")
    if allowed is not None:
        raise ValueError(f"{option} must be {allowed}, not {value!r}{_job(job)}")


def canonical_id(job_id: str) -> str:
    """The stored form of a job id: a UUID in any spelling (dashed, braced, ``urn:uuid:``) is its 32 hex digits,
    as taskgraph's own ids are written; any other id is as it is."""
    if isinstance(job_id, str) and 32 <= len(job_id) <= 45 and not (len(job_id) == 32 and job_id.islower()):
        # (32 lowercase characters: taskgraph's own form already, or not a UUID at all; either way as it is)
        try:
            return uuid.UUID(job_id).hex
        except ValueError:
            pass
    return job_id


def check_id(job: str | None, job_id: Any) -> str:
    """The stored form (:func:`canonical_id`) of a job id a caller gave.

    Raises:
        ValueError: the id is not a string of 1 to :data:`MAX_ID` printable characters without whitespace.
    """
    if not _printable(job_id, MAX_ID):
        raise ValueError(f"id must be a string of 1 to {MAX_ID} printable characters without spaces, not "
                         f"{job_id!r}{_job(job)}")
    return canonical_id(job_id)


def check_metadata(job: str | None, metadata: Any) -> dict[str, Any]:
    """A copy of metadata a caller gave, as it will be stored and read back.

    Raises:
        ValueError: it is not a dict with string keys and JSON values that read back equal (no tuples, sets,
            NaN or non-string keys anywhere), or its JSON text is over :data:`MAX_METADATA` bytes.
    """
    allowed = "a dict with string keys and JSON values (str, int, float, bool, None, lists, dicts)"
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise ValueError(f"metadata must be {allowed}, not {metadata!r:.200}{_job(job)}")
    try:
        text = json.dumps(metadata, allow_nan=False, ensure_ascii=False)
        copy = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be {allowed}: {exc}, in {metadata!r:.200}{_job(job)}") from None
    if copy != metadata:
        raise ValueError(f"metadata must be {allowed}: {metadata!r:.200} reads back as {copy!r:.200} (a tuple, or a "
                         f"key that is not a string){_job(job)}")
    if len(text.encode()) > MAX_METADATA:
        raise ValueError(f"metadata must be at most {MAX_METADATA} bytes of JSON, not {len(text.encode())} bytes"
                         f"{_job(job)}")
    return dict(copy)
