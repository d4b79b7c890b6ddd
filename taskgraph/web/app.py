"""The web app: the API under ``/api`` and the dashboard's pages at ``/``, over one durable queue; mountable in any
ASGI app, and able to run an embedded worker for as long as it is served."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI

from .models import MAX_BODY
from .security import AuthCallable, BodyLimit

if TYPE_CHECKING:
    from ..durable.queue import DurableQueue

__all__ = ["create_app", "worker_lifespan", "open_for_web"]


def open_for_web(queue_or_url: DurableQueue | str) -> tuple[DurableQueue, str, bool]:
    """``(queue, password, opened)``: the durable queue to serve, the password of its URL (never to be shown), and
    whether it was opened here (and so is closed with the app).

    Raises:
        ValueError: the URL is not a durable store's.
    """
    from .. import open_queue
    from ..durable.queue import DurableQueue
    from ..scheduler import close_queue

    if isinstance(queue_or_url, DurableQueue):
        return queue_or_url, "", False
    if not isinstance(queue_or_url, str):
        raise TypeError(f"create_app() takes a DurableQueue or a store URL, not {type(queue_or_url).__name__}")
    password = unquote(urlsplit(queue_or_url.strip()).password or "")
    queue = open_queue(queue_or_url)
    if not isinstance(queue, DurableQueue):
        close_queue(queue, False)
        raise ValueError(f"{queue!r} is not a durable store: give sqlite:///PATH, postgresql://... or redis://...")
    return queue, password, True


def worker_lifespan(queue: DurableQueue, **options: Any) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` that runs a worker of ``queue`` inside the app while it is served:
    ``FastAPI(lifespan=worker_lifespan(queue, threads=2))``. ``options`` are :class:`~taskgraph.Worker`'s."""
    from ..durable.worker import Worker

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with Worker(queue, **options):
            yield

    return lifespan


def create_app(
    queue_or_url: DurableQueue | str, *, token: str | None = None, auth: AuthCallable | None = None,
    read_only: bool = False, worker: dict[str, Any] | bool | None = None, title: str = "taskgraph",
) -> FastAPI:
    """The dashboard and the API of a durable queue, as an ASGI app (``app.mount("/jobs", create_app(q))``).

    Args:
        queue_or_url: a :class:`~taskgraph.DurableQueue`, or a store URL to open (closed with the app).
        token: a secret: the API wants ``Authorization: Bearer TOKEN``, the pages a sign-in with it.
        auth: ``auth(request) -> bool`` (sync or async), deciding each request; with or instead of ``token``.
        read_only: refuse every action (enqueue, retry, cancel, delete, purge).
        worker: run an embedded worker while the app is served: True, or :class:`~taskgraph.Worker`'s options.
        title: the title of the pages and of the OpenAPI schema.

    Raises:
        ValueError: the URL is not a durable store's, or the token is empty.
    """
    from .api import create_router
    from .pages import create_pages

    queue, password, opened = open_for_web(queue_or_url)
    worker_options = ({} if worker is True else dict(worker)) if worker else None

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        try:
            if worker_options is not None:
                async with worker_lifespan(queue, **worker_options)(app):
                    yield
            else:
                yield
        finally:
            if opened:
                queue.close()

    app = FastAPI(title=title, description=f"Jobs of {queue.url}", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")  # their pages load from a CDN
    app.include_router(create_router(queue, prefix="/api", token=token, auth=auth, read_only=read_only,
                                     hide=password))
    app.include_router(create_pages(queue, token=token, auth=auth, read_only=read_only, hide=password, title=title))
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.state.queue = queue
    return app
