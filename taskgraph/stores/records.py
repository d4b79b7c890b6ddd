"""What a store keeps: job records, history events, new jobs, and how errors travel as data."""

from __future__ import annotations

import builtins
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import RemoteTaskError

_DIGEST = re.compile(r"@[0-9a-f]{10}\Z")  # what DurableQueue.key_of appends to a task's key

__all__ = [
    "JobRecord", "NewJob", "Event", "encode_error", "rebuild_error", "record_from_row", "blocked_error", "FIELDS",
    "FINAL", "MAX_LEASE_LOSSES", "options_text", "options_texts", "metadata_of", "metadata_matches", "CONDITIONS",
    "ON_TEXT", "runs_on", "after_end", "shown_status",
]

#: The statuses a job ends in; the others are PENDING (waiting for prerequisites), QUEUED and RUNNING.
FINAL = frozenset({"DONE", "FAILED", "CANCELLED"})

#: How often a job may lose its worker (lease expired) before it is FAILED rather than run again.
MAX_LEASE_LOSSES = 5


@dataclass
class NewJob:
    """A job to enqueue.

    Attributes:
        id: a new unique id, chosen by the caller (so that ``after`` can name jobs of the same call).
        name: the registered name of the job function (``module:qualname``).
        payload: the serialized arguments.
        options: ``mode``, ``timeout``, ``retries``, ``backoff``, ``daemon``, ``serializer``, as the job
            function was declared; stored as they are.
        queue: the named queue a worker must serve to take it.
        priority: higher is claimed first.
        key: a stable key: enqueueing a key the store already has returns that job (running it again only if it
            FAILED or was CANCELLED).
        delay: seconds from now (by the store's clock) before it may be claimed.
        not_before: an absolute time (epoch seconds) before which it may not be claimed; the later of the two wins.
        after: ids of prerequisites (jobs of this call or already stored): it stays PENDING until all are DONE.
        metadata: a JSON object kept with the job, stored inside its options (see :func:`options_text`).
        on: when it runs, with one prerequisite in ``after`` (a continuation): ``success`` (the default: once all
            of ``after`` are DONE), ``failure`` (once its prerequisite FAILED; CANCELLED if it is DONE or was
            CANCELLED) or ``any`` (once its prerequisite is finished, however it ended).
    """

    id: str
    name: str
    payload: bytes
    options: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    key: str | None = None
    delay: float = 0.0
    not_before: float | None = None
    after: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    on: str = "success"


#: The conditions a continuation may run on (:attr:`NewJob.on`).
CONDITIONS = ("success", "failure", "any")


@dataclass
class JobRecord:
    """A job as the store holds it. Times are epoch seconds by the store's clock."""

    id: str
    name: str
    status: str
    queue: str = "default"
    key: str | None = None
    priority: int = 0
    payload: bytes = b""
    options: dict[str, Any] = field(default_factory=dict)
    result: bytes | None = None
    error: dict[str, str] | None = None
    attempts: int = 0
    lease_losses: int = 0
    waiting: int = 0
    not_before: float = 0.0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    lease_expires: float | None = None
    progress: float | None = None
    progress_message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # read from the options, not a field of the rows

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def shown_status(self, now: float | None = None) -> str:
        """Its status as shown to people: SCHEDULED for a QUEUED job whose ``not_before`` is still to come at
        ``now`` (epoch seconds; this machine's clock by default): delayed, or waiting to be retried."""
        return shown_status(self.status, self.not_before, now)


def shown_status(status: str, not_before: Any, now: float | None = None) -> str:
    """A status as shown to people (see :meth:`JobRecord.shown_status`), from the status and ``not_before``."""
    if status == "QUEUED" and isinstance(not_before, (int, float)) and not_before < math.inf:
        return "SCHEDULED" if not_before > (time.time() if now is None else now) else "QUEUED"
    return status


#: The fields of a record in order, as the stores' rows (SQL columns, Redis hash fields) hold them.
FIELDS = tuple(f.name for f in fields(JobRecord) if f.name != "metadata")


def options_text(job: NewJob) -> str:
    """The JSON text a store keeps as a new job's options: its options, with its metadata under ``"metadata"``
    when it has any.

    Metadata lives inside the options rather than in a column of its own so that databases created by earlier
    versions need no migration (SQLite, PostgreSQL and Redis each keep the options as one JSON text), a worker
    ignores it (it reads only the options it knows), and a row written without it reads as metadata ``{}``.
    """
    options = {**job.options, "metadata": job.metadata} if job.metadata else job.options
    if job.on != "success":  # first, where a store's SQL finds it by the start of the text (see runs_on)
        options = {"on": job.on, **{k: v for k, v in options.items() if k != "on"}}
    return json.dumps(options)


def options_texts() -> Callable[[NewJob], str]:
    """:func:`options_text` that encodes once the options of jobs sharing their options and metadata objects (the
    runs of a batch): for the jobs of one store call."""
    memo: dict[tuple[int, int, str], tuple[Any, Any, str]] = {}

    def text(job: NewJob) -> str:
        metadata = job.metadata or None  # every empty one alike
        key = (id(job.options), id(metadata), job.on)
        found = memo.get(key)
        if found is not None and found[0] is job.options and found[1] is metadata:
            return found[2]
        made = options_text(job)
        memo[key] = (job.options, metadata, made)  # the objects kept, so that their ids stay theirs
        return made

    return text


#: The start of the options text of a continuation that runs on ``failure`` or ``any`` (see :func:`options_text`).
ON_TEXT = {"failure": '{"on": "failure"', "any": '{"on": "any"'}


def runs_on(options: Any) -> str:
    """When a job whose stored options text is ``options`` runs: ``failure``, ``any`` or ``success``."""
    if isinstance(options, bytes):
        options = options.decode(errors="replace")
    if isinstance(options, str):
        for on, start in ON_TEXT.items():
            if options.startswith(start):
                return on
    return "success"


def after_end(on: str, prereq: str) -> str | None:
    """What a PENDING job that runs ``on`` does when a prerequisite ends as ``prereq``: ``"release"`` (one
    prerequisite less to wait for: QUEUED at none), ``"QUEUED"`` at once, ``"FAILED"`` or ``"CANCELLED"`` (with
    its own PENDING descendants), or None (not finished: it waits)."""
    if prereq not in FINAL:
        return None
    if on == "failure":
        return "QUEUED" if prereq == "FAILED" else "CANCELLED"
    if on == "any":
        return "QUEUED"
    return "release" if prereq == "DONE" else prereq


def metadata_of(options: dict[str, Any]) -> dict[str, Any]:
    """The metadata kept in a job's stored options; ``{}`` if none (or if what is there is not an object)."""
    metadata = options.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def metadata_matches(record: JobRecord, wanted: dict[str, Any] | None) -> bool:
    """Whether ``record``'s metadata holds every key of ``wanted`` with an equal value."""
    return not wanted or all(k in record.metadata and record.metadata[k] == v for k, v in wanted.items())


@dataclass
class Event:
    """One entry of a job's history."""

    at: float
    event: str
    source: str | None
    dest: str
    worker: str | None = None
    detail: str | None = None


def _text(value: Any) -> Any:
    """A text field as text: one damaged by hand (a blob, where SQLite keeps what it is given) is read as text too,
    so that whatever shows a record can; its other fields are left as they are, for a worker to refuse."""
    if value is None or type(value) is str:
        return value
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def record_from_row(row: Sequence[Any]) -> JobRecord:
    """A record from a row of :data:`FIELDS`, options and error as JSON text; its metadata read from its
    options."""
    options = read_options(row[0], row[7])
    return JobRecord(
        id=_text(row[0]), name=_text(row[1]), status=_text(row[2]), queue=_text(row[3]), key=_text(row[4]),
        priority=row[5], payload=row[6] or b"", options=options, metadata=metadata_of(options), result=row[8],
        error=read_error(row[0], row[9]) if row[9] else None,
        attempts=row[10], lease_losses=row[11], waiting=row[12], not_before=row[13], created=row[14],
        started=row[15], finished=row[16], worker=_text(row[17]), lease_expires=row[18], progress=row[19],
        progress_message=_text(row[20]),
    )


def label(key_or_name: str) -> str:
    """How a job is named in messages: its key (without the digest of what it runs that a graph's task adds to
    it: see ``DurableQueue.key_of``), or its name."""
    return _DIGEST.sub("", key_or_name)


def blocked_error(name: str, prereq: str, state: str) -> str:
    """The stored error (JSON text) of a job failed without running because a prerequisite FAILED or was
    CANCELLED; it rebuilds as a :class:`~taskgraph.errors.BlockedError`. ``name`` and ``prereq`` are labels."""
    name, prereq = label(name), label(prereq)
    return json.dumps({
        "type": "taskgraph.errors.BlockedError",
        "message": f"task {name!r} is blocked: prerequisite {prereq!r} is {state}",
        "args": [name, [[prereq, state]]],
        "traceback": "",
    })


def encode_error(exc: BaseException, tb: str | None = None) -> dict[str, Any]:
    """An exception as data: its type's qualified name, its message, the traceback text, and its arguments when
    they are plain JSON values (so that it can be rebuilt as it was)."""
    kind = type(exc)
    if tb is None:
        tb = "".join(traceback.format_exception(kind, exc, exc.__traceback__))
    error: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}", "message": str(exc), "traceback": tb}
    try:
        json.dumps(exc.args, allow_nan=False)
        error["args"] = list(exc.args)
    except (TypeError, ValueError):
        pass
    attrs = {}
    for name, value in getattr(exc, "__dict__", {}).items():  # what its constructor set: a code, a field name...
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        if isinstance(name, str) and not name.startswith("__"):
            attrs[name] = value
    if attrs:
        error["attrs"] = attrs
    return error


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, chained as the rebuilt exception's ``__cause__``."""

    def __init__(self, traceback_text: str) -> None:
        super().__init__(traceback_text)
        self.traceback = traceback_text

    def __str__(self) -> str:
        return f'\n"""\n{self.traceback}"""'


def rebuild_error(error: dict[str, str]) -> BaseException:
    """The exception a stored error describes, of its own type where that type can be found without importing
    anything (builtins, or a module already imported here) and built from its message; else a
    :class:`RemoteTaskError`. The worker's traceback is chained as ``__cause__``."""
    type_name = error.get("type", "builtins.Exception")
    message = error.get("message", "")
    text = error.get("traceback", "")
    module_name, _, qualname = type_name.rpartition(".")
    rebuilt: BaseException | None = None
    module = builtins if module_name == "builtins" else sys.modules.get(module_name)
    kind: Any = module
    for part in qualname.split("."):
        kind = getattr(kind, part, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        rebuilt = _rebuilt(kind, error, message)
    if rebuilt is None:
        rebuilt = RemoteTaskError(type_name, message, text)
    if text:
        rebuilt.__cause__ = RemoteTraceback(text)
    return rebuilt


def _rebuilt(kind: type[Exception], error: dict[str, Any], message: str) -> Exception | None:
    """An exception of ``kind`` from its stored arguments and attributes, if it reads as its message did: built by
    its constructor, or, when the constructor takes other arguments than the exception keeps (``Custom(code,
    where)`` keeping one message), made without it, with its arguments and attributes set as they were."""
    args = error.get("args")
    attrs = error.get("attrs")
    attrs = attrs if isinstance(attrs, dict) else {}
    try:
        rebuilt = kind(*args) if isinstance(args, list) else kind(message)
    except Exception:
        rebuilt = None
    if rebuilt is None and isinstance(args, list):
        try:
            rebuilt = kind.__new__(kind, *args)
            rebuilt.args = tuple(args)
        except Exception:
            rebuilt = None
    if rebuilt is None:
        return None
    try:
        for name, value in attrs.items():
            setattr(rebuilt, name, value)
        same = str(rebuilt) == message
    except Exception:
        return None
    return rebuilt if same else None  # it does not read as it did: do not pretend


def read_options(job_id: str, text: Any) -> dict[str, Any]:
    """A job's stored options; damaged ones are marked, so that a worker fails that job saying so."""
    try:
        options = json.loads(text)
    except Exception as exc:  # noqa: BLE001
        return {"damaged": f"job {job_id}: its stored options cannot be read ({type(exc).__name__}: {exc})"}
    if not isinstance(options, dict):
        return {"damaged": f"job {job_id}: its stored options are not an object"}
    return options


def read_error(job_id: str, text: Any) -> dict[str, Any]:
    """A job's stored error; a damaged one becomes an error that says so."""
    try:
        error = json.loads(text)
    except Exception as exc:  # noqa: BLE001
        error = None
        why = f"{type(exc).__name__}: {exc}"
    else:
        why = "not an object with a type and a message"
    if isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message", ""), str):
        return error
    return {"type": "taskgraph.errors.SerializationError", "traceback": "",
            "message": f"job {job_id}: its stored error cannot be read ({why}); it was damaged"}
