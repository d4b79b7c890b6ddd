"""The JSON API: one router over a durable queue, every route with its models in the OpenAPI schema.

Routes are plain ``def`` functions: FastAPI runs each in its thread pool, where the queue opens one store connection
per thread. What a user can get wrong (an unknown job, arguments that do not fit, an option out of range) is a 4xx
with the library's own message; a store that does not answer is a 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from ..errors import SerializationError, first_line
from ..stores.base import StoreError, StoreUnavailable
from . import query, svg
from .models import (
    Changed,
    Graph,
    GraphInfo,
    Health,
    NewTask,
    Problem,
    Purged,
    QueueInfo,
    Recurring,
    Stats,
    TaskDetail,
    TaskPage,
    TaskType,
    Worker,
)
from .security import AuthCallable, Guard, cross_site

if TYPE_CHECKING:
    from ..durable.queue import DurableQueue

__all__ = ["create_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the request was refused; the message says why"},
    401: {"model": Problem, "description": "no valid bearer token"},
    403: {"model": Problem, "description": "read-only, or refused by the auth callable"},
    503: {"model": Problem, "description": "the store does not answer"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no such job"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Problem, "description": "not in a status that allows it"}}


@contextmanager
def _answers(hide: str = "") -> Iterator[None]:
    """The library's errors as HTTP errors: a user's mistake 400, something named that does not exist 404, a store
    that does not answer 503."""
    try:
        yield
    except StoreUnavailable as exc:
        raise HTTPException(503, _clean(f"the store does not answer: {first_line(exc)}", hide)) from None
    except (ValueError, TypeError, SerializationError, KeyError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise HTTPException(400, _clean(first_line(text), hide)) from None
    except LookupError as exc:  # no such recurring job, ...
        raise HTTPException(404, _clean(first_line(exc), hide)) from None
    except StoreError as exc:
        raise HTTPException(503, _clean(f"store error: {first_line(exc)}", hide)) from None


def _clean(text: str, hide: str) -> str:
    return text.replace(hide, "***") if hide else text


def create_router(
    queue: DurableQueue, *, prefix: str = "", tags: list[str] | None = None, auth: AuthCallable | None = None,
    token: str | None = None, read_only: bool = False, hide: str = "",
) -> APIRouter:
    """The API's router over ``queue``, to ``include_router`` in a FastAPI app.

    Args:
        prefix: where its routes live (``/api``).
        tags: OpenAPI tags of its routes.
        auth: ``auth(request) -> bool`` (or an async one) deciding each request.
        token: a bearer token each request must carry.
        read_only: refuse every action that changes the store (403).
        hide: a secret (the store's password) never to show in a message.
    """
    guard = Guard(token=token, auth=auth, read_only=read_only)

    async def allowed(request: Request) -> None:
        if not await guard.api_allows(request):
            raise HTTPException(401, "a valid token is needed: send 'Authorization: Bearer TOKEN'",
                                headers={"WWW-Authenticate": "Bearer"})

    def writable(request: Request) -> None:
        if guard.read_only:
            raise HTTPException(403, "this dashboard is read-only")
        if cross_site(request):
            raise HTTPException(403, "refused: the browser says this request comes from another site")

    router = APIRouter(prefix=prefix, tags=list(tags or ["taskgraph"]), dependencies=[Depends(allowed)],
                       responses=_ERRORS)
    write = [Depends(writable)]
    answers: Callable[[], Any] = lambda: _answers(hide)  # noqa: E731

    def record_or_404(job_id: str) -> Any:
        record = query.find_record(queue, job_id)
        if record is None:
            raise HTTPException(404, f"no job {job_id!r} in the store (never enqueued, or deleted)")
        return record

    @router.post("/tasks", status_code=201, response_model=TaskDetail, dependencies=write,
                 summary="Enqueue a run of a registered job")
    def enqueue(body: NewTask) -> Any:
        job = queue.job(body.task_type)
        if job is None or body.task_type == "taskgraph.durable.jobs:noop":
            known = ", ".join(t["name"] for t in query.task_types(queue)) or "none"
            raise HTTPException(400, f"unknown task type {body.task_type!r}; the registered jobs are: {known}")
        twice = set(body.kwargs) & set(body.params)
        if twice:
            raise HTTPException(400, f"{', '.join(sorted(twice))} given in both kwargs and params")
        with answers():
            handle = job.enqueue(
                body.args, {**body.kwargs, **body.params}, priority=body.priority, queue=body.queue,
                timeout=body.timeout, id=body.id, metadata=body.metadata, at=body.at, delay=body.delay,
            )
            return query.job_detail(queue, record_or_404(handle.id))

    @router.get("/tasks", response_model=TaskPage, summary="List jobs, newest first")
    def list_tasks(
        status: str | None = Query(None, description=f"one of {', '.join(query.STATUSES)}", max_length=20),
        queue_name: str | None = Query(None, alias="queue", max_length=200),
        task_type: str | None = Query(None, max_length=1000),
        limit: int = Query(50, ge=1, le=query.MAX_LIMIT, description=f"at most {query.MAX_LIMIT}"),
        offset: int = Query(0, ge=0, le=10_000_000),
        older_than: float | None = Query(None, ge=0, le=1e10, description="created more than this many seconds ago"),
        newer_than: float | None = Query(None, ge=0, le=1e10, description="created less than this many seconds ago"),
    ) -> Any:
        with answers():
            records = query.list_jobs(queue, status=status, queue_name=queue_name, task_type=task_type,
                                      limit=limit, offset=offset, older_than=older_than, newer_than=newer_than)
        return {"items": [query.job_summary(r) for r in records], "limit": limit, "offset": offset,
                "next_offset": offset + limit if len(records) == limit else None}

    @router.get("/tasks/types", response_model=list[TaskType], summary="The registered jobs and their options")
    def types() -> Any:
        return query.task_types(queue)

    @router.get("/tasks/{job_id}", response_model=TaskDetail, responses=_NOT_FOUND, summary="One job")
    def get_task(job_id: str) -> Any:
        with answers():
            found = query.job_page(queue, job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id!r} in the store (never enqueued, or deleted)")
        return found

    @router.delete("/tasks/{job_id}", response_model=Changed, dependencies=write, responses={**_NOT_FOUND, **_CONFLICT},
                   summary="Cancel a pending, queued or running job")
    def cancel(job_id: str) -> Any:
        with answers():
            record = record_or_404(job_id)
            done = queue.cancel([record.id])
        if not done:
            raise HTTPException(409, f"job {record.id} is {record.status}: only unfinished jobs can be cancelled")
        return {"ids": done}

    @router.post("/tasks/{job_id}/retry", response_model=Changed, dependencies=write,
                 responses={**_NOT_FOUND, **_CONFLICT}, summary="Queue a FAILED or CANCELLED job again")
    def retry(job_id: str, force: bool = Query(False, description="DONE jobs too")) -> Any:
        with answers():
            record = record_or_404(job_id)
            done = queue.retry([record.id], force=force)
        if not done:
            allowed = "FAILED, CANCELLED or (with force) DONE" if not force else "finished"
            raise HTTPException(409, f"job {record.id} is {record.status}: only {allowed} jobs can be retried")
        return {"ids": done}

    @router.delete("/tasks/{job_id}/record", response_model=Changed, dependencies=write,
                   responses={**_NOT_FOUND, **_CONFLICT}, summary="Delete a finished job's record and history")
    def delete(job_id: str) -> Any:
        with answers():
            record = record_or_404(job_id)
            done = queue.delete([record.id])
        if not done:
            raise HTTPException(409, f"job {record.id} is {record.status}: only finished jobs can be deleted")
        return {"ids": done}

    @router.post("/purge", response_model=Purged, dependencies=write, summary="Delete old finished jobs")
    def purge(older_than: float = Query(0.0, ge=0, le=1e10, description="ended more than this many seconds ago")
              ) -> Any:
        with answers():
            return {"deleted": queue.purge(older_than)}

    @router.get("/stats", response_model=Stats, summary="Jobs by queue and status")
    def stats() -> Any:
        with answers():
            return query.counts(queue)

    @router.get("/workers", response_model=list[Worker], summary="The live workers")
    def workers() -> Any:
        with answers():
            return query.workers(queue)

    @router.get("/queues", response_model=list[QueueInfo], summary="The named queues")
    def queues() -> Any:
        with answers():
            return query.queues(queue)

    @router.get("/health", response_model=Health, responses={503: {"model": Health}}, summary="Does the store answer")
    def health(response: Response) -> Any:
        ok, reason = query.health(queue, hide)
        if not ok:
            response.status_code = 503
        return {"ok": ok, "store": queue.url, "reason": reason}

    @router.get("/graphs", response_model=list[GraphInfo], summary="Graphs handed to the store (make_later)")
    def graphs() -> Any:
        with answers():
            return query.graphs(queue)

    @router.get("/graphs/{graph_id}.svg", response_class=Response, responses={
        200: {"content": {"image/svg+xml": {}}}, **_NOT_FOUND}, summary="A graph as SVG, coloured by state")
    def graph_svg(graph_id: str) -> Response:
        with answers():
            found = query.graph(queue, graph_id)
        if found is None:
            raise HTTPException(404, f"no graph {graph_id!r} among the newest jobs")
        return Response(svg.graph_svg(found), media_type="image/svg+xml")

    @router.get("/graphs/{graph_id}", response_model=Graph, responses=_NOT_FOUND, summary="A graph's tasks")
    def get_graph(graph_id: str) -> Any:
        with answers():
            found = query.graph(queue, graph_id)
        if found is None:
            raise HTTPException(404, f"no graph {graph_id!r} among the newest jobs")
        return found

    if hasattr(queue, "recurring_jobs"):
        _recurring_routes(router, queue, write, answers)
    return router


def _recurring_routes(router: APIRouter, queue: Any, write: list[Any], answers: Callable[[], Any]) -> None:
    """The recurring jobs' routes, for a queue that has them."""

    def described(item: Any) -> dict[str, Any]:
        if isinstance(item, dict):
            return item
        from dataclasses import asdict, is_dataclass

        return asdict(item) if is_dataclass(item) and not isinstance(item, type) else {"id": str(item)}

    @router.get("/recurring", response_model=list[Recurring], summary="The recurring jobs")
    def recurring() -> Any:
        with answers():
            return [described(r) for r in queue.recurring_jobs()]

    for action in ("trigger", "pause", "resume"):
        router.add_api_route(f"/recurring/{{recurring_id}}/{action}", _acting(getattr(queue, f"{action}_recurring"),
                             answers), methods=["POST"], response_model=Changed, dependencies=write,
                             summary=f"{action.capitalize()} a recurring job",
                             responses={404: {"model": Problem, "description": "no such recurring job"}})


def _acting(method: Callable[[str], Any], answers: Callable[[], Any]) -> Callable[[str], Any]:
    def act(recurring_id: str) -> Any:
        with answers():
            result = method(recurring_id)
        return {"ids": [str(getattr(result, "id", recurring_id))]}

    return act
