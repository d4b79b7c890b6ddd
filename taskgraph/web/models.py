"""The request and response models of the API: what the OpenAPI schema says each route takes and answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "NewTask", "Task", "TaskDetail", "TaskError", "Event", "TaskPage", "TaskType", "Stats", "Worker", "QueueInfo",
    "Health", "Changed", "Purged", "GraphInfo", "Graph", "GraphNode", "Problem", "Recurring", "MAX_BODY",
]

#: The largest request body the API reads, in bytes; a larger one is refused with 413.
MAX_BODY = 1 << 20


class NewTask(BaseModel):
    """A job to enqueue: a registered job's name and its arguments, with options for this run."""

    model_config = ConfigDict(extra="forbid")

    task_type: str = Field(description="a registered job's name, module:qualname (GET /tasks/types)",
                           min_length=1, max_length=1000)
    args: list[Any] = Field(default_factory=list, description="positional arguments")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="keyword arguments too (as async-task-worker names them)")
    priority: int | None = Field(None, description="higher is claimed first")
    queue: str | None = Field(None, description="the named queue a worker must serve", max_length=200)
    delay: float | None = Field(None, description="seconds from now before it may start", ge=0)
    at: float | None = Field(None, description="epoch seconds before which it may not start")
    timeout: float | None = Field(None, description="seconds a run may take", gt=0)
    id: str | None = Field(None, description="the job's id, chosen by the caller", max_length=200)
    metadata: dict[str, Any] | None = Field(None, description="a JSON object kept with the job")


class Task(BaseModel):
    """A job as a list shows it. Times are epoch seconds by the store's clock."""

    id: str
    task_type: str
    status: str
    queue: str
    priority: int
    attempts: int
    created: float
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    key: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TaskError(BaseModel):
    """Why a job FAILED: the exception's type, message, and the worker's traceback."""

    type: str
    message: str
    traceback: str


class Event(BaseModel):
    """One entry of a job's history."""

    at: float
    event: str
    source: str | None = None
    dest: str
    worker: str | None = None
    detail: str | None = None


class TaskDetail(Task):
    """A job with its arguments, result, error, options and history."""

    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    result: Any = None
    decode_error: str | None = Field(None, description="why the arguments or result could not be read")
    error: TaskError | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    not_before: float | None = None
    history: list[Event] = Field(default_factory=list)


class TaskPage(BaseModel):
    """A page of jobs, newest first."""

    items: list[Task]
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="the offset of the next page, when there may be one")


class TaskType(BaseModel):
    """A registered job."""

    name: str
    signature: str
    doc: str
    options: dict[str, Any]


class Stats(BaseModel):
    """Jobs by named queue and status."""

    queues: dict[str, dict[str, int]]
    totals: dict[str, int]
    total: int


class Worker(BaseModel):
    """A live worker, as it registered in the store."""

    id: str
    host: str
    pid: int | None = None
    queues: list[str]
    concurrency: dict[str, int]
    started: float | None = None
    heartbeat: float | None = None
    expires: float | None = None
    heartbeat_age: float | None = None
    running: list[str]
    done: int
    failed: int


class QueueInfo(BaseModel):
    """A named queue: its jobs by status and the workers serving it."""

    name: str
    counts: dict[str, int]
    total: int
    workers: list[str]


class Health(BaseModel):
    """Whether the store answers."""

    ok: bool
    store: str = Field(description="the store's URL, password hidden")
    reason: str


class Changed(BaseModel):
    """The ids an action changed."""

    ids: list[str]


class Purged(BaseModel):
    """How many finished jobs a purge deleted."""

    deleted: int


class GraphNode(BaseModel):
    """A task of a stored graph."""

    id: str
    name: str
    task_type: str
    status: str
    waiting: int
    progress: float | None = None


class GraphInfo(BaseModel):
    """A graph handed to the store: the keyed jobs of one namespace."""

    id: str
    tasks: int
    counts: dict[str, int]
    created: float
    finished: bool


class Graph(BaseModel):
    """A stored graph's tasks with their states."""

    id: str
    nodes: list[GraphNode]
    edges: list[list[str]] = Field(description="[prerequisite id, dependent id] for each edge between its tasks")
    edges_known: bool = Field(description="False: this store cannot list prerequisites, so edges is empty")


class Recurring(BaseModel):
    """A recurring job, as the store holds it (``RecurringInfo``): times are epoch seconds."""

    id: str
    job: str = Field(description="the name of the job it runs (module:qualname)")
    schedule: str = Field(description="how it recurs, as a person reads it")
    cron: str | None = None
    every: float | None = Field(None, description="seconds between runs, for a schedule that is not a cron")
    tz: str = "UTC"
    next_run: float | None = Field(None, description="when it runs next; while paused, when it would have")
    last_run: float | None = Field(None, description="the due time of the last run the schedule enqueued")
    last_job: str | None = Field(None, description="the id of the job of the last run")
    last_status: str | None = Field(None, description="that job's status")
    paused: bool = False
    queue: str = "default"
    catch_up: str = "skip"
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    error: str | None = Field(None, description="why the scheduler paused it, if it could not use it")


class Problem(BaseModel):
    """What was wrong with a request."""

    detail: str
