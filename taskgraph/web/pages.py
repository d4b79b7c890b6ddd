"""The dashboard's pages, rendered on the server with Jinja2 from the same query layer as the API.

Every page has a live part (``#live``) that ``live.js`` fetches again every few seconds with the header
``X-Partial: 1``: the server renders that part alone from one store call (a list, or a
:meth:`~taskgraph.stores.base.Store.snapshot` of what the page shows: the overview's counts, workers and jobs
finished per minute; a job with its history; a graph's jobs with their edges), so the cost of a watching browser
is one store call per interval, not per job. The overview's result-cache table is read with the whole page only.
The SCHEDULED list (counts, then pages of QUEUED jobs) and the recurring jobs (their entries, then the status of
their last runs) read more. Actions are forms POSTing a CSRF token.
"""

from __future__ import annotations

import json
import time
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ..errors import first_line
from ..safetext import shown
from ..stores.base import StoreError
from ..timefmt import clock, duration
from . import query, svg
from .security import CSRF_COOKIE, SESSION_COOKIE, AuthCallable, Guard, csrf_ok, csrf_token, set_cookie

if TYPE_CHECKING:
    from ..durable.queue import DurableQueue

__all__ = ["create_pages", "PAGE_SIZE"]

#: Jobs on one page of a list.
PAGE_SIZE = 50
#: Seconds between live updates of a page.
INTERVAL = 3
_STATIC = {"style.css": "text/css", "live.js": "text/javascript"}


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("taskgraph.web", "templates"), autoescape=select_autoescape(default=True))
    env.filters["s"] = lambda v: "" if v is None else shown(str(v))
    env.filters["lines"] = lambda v: "" if v is None else shown(str(v), lines=True)
    env.filters["when"] = lambda v: "" if v is None else clock(v)
    env.filters["ago"] = lambda v: "" if v is None else duration(max(time.time() - v, 0.0)) + " ago"
    env.filters["dur"] = duration
    env.filters["json"] = lambda v: shown(json.dumps(v, indent=2, ensure_ascii=False, default=repr), lines=True)
    env.filters["q"] = lambda v: quote(str(v), safe="")
    env.globals["COLOURS"] = svg.COLOURS
    return env


def create_pages(
    queue: DurableQueue, *, token: str | None = None, auth: AuthCallable | None = None, read_only: bool = False,
    hide: str = "", title: str = "taskgraph",
) -> APIRouter:
    """The dashboard's pages over ``queue`` (left out of the OpenAPI schema)."""
    guard = Guard(token=token, auth=auth, read_only=read_only)
    env = _environment()
    recurring = hasattr(queue, "recurring_jobs")
    router = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        csrf = csrf_token(request)
        base = request.scope.get("root_path") or ""
        partial = request.headers.get("x-partial") == "1"
        values = {"request": request, "base": base, "csrf": csrf, "read_only": guard.read_only, "title": title,
                  "store": queue.url, "partial": partial,
                  "interval": 0 if name in ("message.html", "login.html") else INTERVAL, "recurring": recurring}
        html = env.get_template(name).render({**values, **context})
        response = HTMLResponse(html, status_code=code)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        if request.cookies.get(CSRF_COOKIE) != csrf:
            set_cookie(response, request, CSRF_COOKIE, csrf)
        return response

    async def gate(request: Request) -> Response | None:
        if await guard.page_allows(request):
            return None
        if guard.token is not None:
            base = request.scope.get("root_path") or ""
            target = request.url.path[len(base):] or "/"
            return RedirectResponse(f"{base}/login?{urlencode({'next': target})}", status_code=303)
        return HTMLResponse("forbidden", status_code=403)

    def failed(request: Request, exc: Exception) -> HTMLResponse:
        text = f"{type(exc).__name__}: {first_line(exc)}"
        return render(request, "message.html", 503, heading="The store does not answer",
                      message=text.replace(hide, "***") if hide else text)

    def page(name: str, read: Any) -> Any:
        """A GET route rendering ``name`` with what ``read(request, **params)`` returns."""
        async def route(request: Request) -> Response:
            refused = await gate(request)
            if refused is not None:
                return refused
            try:
                context = await run_in_threadpool(read, request)
            except HTTPException as exc:
                return render(request, "message.html", exc.status_code, heading="Not found", message=exc.detail)
            except (StoreError, OSError) as exc:
                return failed(request, exc)
            except ValueError as exc:
                return render(request, "message.html", 400, heading="Bad request", message=str(exc))
            return render(request, name, **context)

        return route

    async def action(request: Request, csrf: str, do: Any, back: str) -> Response:
        refused = await gate(request)
        if refused is not None:
            return refused
        if guard.read_only:
            return render(request, "message.html", 403, heading="Read-only", message="this dashboard is read-only")
        if not csrf_ok(request, csrf):
            return render(request, "message.html", 403, heading="Refused",
                          message="the form's CSRF token is missing or stale: reload the page and try again")
        try:
            await run_in_threadpool(do)
        except (StoreError, OSError) as exc:
            return failed(request, exc)
        except (ValueError, TypeError) as exc:
            return render(request, "message.html", 400, heading="Refused", message=str(exc))
        except LookupError as exc:
            return render(request, "message.html", 404, heading="Not found", message=str(exc.args[0] if exc.args
                                                                                         else exc))
        return RedirectResponse((request.scope.get("root_path") or "") + back, status_code=303)

    # ------------------------------------------------------------------ reads

    def overview(request: Request) -> dict[str, Any]:
        seen = query.overview(queue)
        partial = request.headers.get("x-partial") == "1"  # the cache table is outside the live part
        return {"counts": seen["counts"], "workers": seen["workers"], "exact": seen["throughput"]["exact"],
                "cache": {} if partial else queue.cache_stats(),
                "chart": Markup(svg.throughput_svg(seen["throughput"]))}  # noqa: S704 - escaped in svg

    def jobs(request: Request) -> dict[str, Any]:
        params = request.query_params
        status = params.get("status") or None
        offset = _whole(params.get("offset"), "offset")
        records = query.list_jobs(queue, status=status, queue_name=params.get("queue") or None,
                                  task_type=params.get("task_type") or None, limit=PAGE_SIZE, offset=offset)
        keep = {k: v for k, v in params.items() if k in ("status", "queue", "task_type") and v}
        return {"jobs": [query.job_summary(r) for r in records], "status": status, "filters": keep,
                "offset": offset, "page_size": PAGE_SIZE, "statuses": query.STATUSES,
                "more": len(records) == PAGE_SIZE, "query": urlencode(keep)}

    def job(request: Request) -> dict[str, Any]:
        job_id = request.path_params["job_id"]
        found = query.job_page(queue, job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id!r} in the store (never enqueued, or deleted)")
        return {"job": found}

    def graph(request: Request) -> dict[str, Any]:
        graph_id = request.path_params["graph_id"]
        found = query.graph(queue, graph_id)
        if found is None:
            raise HTTPException(404, f"no graph {graph_id!r} among the newest jobs")
        return {"graph": found, "picture": Markup(svg.graph_svg(found))}  # noqa: S704 - escaped in svg

    def recurring_jobs(request: Request) -> dict[str, Any]:
        return {"items": queue.recurring_jobs(), "now": time.time()}

    reads = {
        "/": ("overview.html", overview),
        "/jobs": ("jobs.html", jobs),
        "/jobs/{job_id}": ("job.html", job),
        "/workers": ("workers.html", lambda r: {"workers": query.workers(queue)}),
        "/queues": ("queues.html", lambda r: {"queues": query.queues(queue), "statuses": query.STATUSES}),
        "/graphs": ("graphs.html", lambda r: {"graphs": query.graphs(queue)}),
        "/graphs/{graph_id}": ("graph.html", graph),
    }
    if recurring:
        reads["/recurring"] = ("recurring.html", recurring_jobs)
    for path, (template, read) in reads.items():
        router.add_api_route(path, page(template, read), methods=["GET"], response_class=HTMLResponse)

    # ------------------------------------------------------------------ actions

    @router.post("/jobs/{job_id}/{verb}")
    async def job_action(request: Request, job_id: str, verb: str, csrf: str = Form("", max_length=200)) -> Response:
        calls = {"retry": lambda: queue.retry([job_id], force=True), "cancel": lambda: queue.cancel([job_id]),
                 "delete": lambda: queue.delete([job_id])}
        if verb not in calls:
            return render(request, "message.html", 404, heading="Not found", message=f"no action {verb!r}")
        return await action(request, csrf, calls[verb], "/jobs" if verb == "delete" else f"/jobs/{quote(job_id)}")

    @router.post("/purge")
    async def purge(request: Request, csrf: str = Form("", max_length=200),
                    older_than: float = Form(0.0, ge=0, le=1e10)) -> Response:
        return await action(request, csrf, lambda: queue.purge(older_than), "/")

    if recurring:
        @router.post("/recurring/{recurring_id}/{verb}")
        async def recurring_action(request: Request, recurring_id: str, verb: str,
                                   csrf: str = Form("", max_length=200)) -> Response:
            if verb not in ("trigger", "pause", "resume"):
                return render(request, "message.html", 404, heading="Not found", message=f"no action {verb!r}")
            method = getattr(queue, f"{verb}_recurring")
            return await action(request, csrf, lambda: method(recurring_id), "/recurring")

    # ------------------------------------------------------------------ sign-in and assets

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002 - the usual name
        return render(request, "login.html", target=_local(next), wrong=False, interval=0)

    @router.post("/login", response_class=HTMLResponse)
    def login(request: Request, token: str = Form("", max_length=1000), csrf: str = Form("", max_length=200),
              next: str = Form("/", max_length=2000)) -> Response:  # noqa: A002
        if guard.token is None:
            return RedirectResponse((request.scope.get("root_path") or "") + "/", status_code=303)
        if not csrf_ok(request, csrf) or not guard.token_matches(token):
            return render(request, "login.html", 401, target=_local(next), wrong=True, interval=0)
        response = RedirectResponse((request.scope.get("root_path") or "") + _local(next), status_code=303)
        set_cookie(response, request, SESSION_COOKIE, guard.session_value())
        return response

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, "no such file")
        data = files("taskgraph.web").joinpath("static").joinpath(name).read_bytes()
        return Response(data, media_type=_STATIC[name], headers={"Cache-Control": "max-age=3600"})

    return router


def _whole(text: str | None, name: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"{name} must be a whole number >= 0, not {text!r}")
    return int(text)


def _local(target: str) -> str:
    """A path of this app to go back to after signing in; anything else (another site) is ``/``."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
