"""The web face of a durable queue: a JSON API (FastAPI, with its OpenAPI schema) and a server-rendered dashboard
(Jinja2), mountable in any ASGI app. Install it with ``pip install 'taskgraph-fsm[web]'``; serve it with
``taskgraph dashboard URL``. See docs/web.md.

It imports down into the library (the queue's public methods) and knows nothing of SQL or Lua.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import jinja2  # noqa: F401
except ImportError as exc:  # pragma: no cover - says what to install
    raise ImportError(f"taskgraph.web needs the web extra ({exc.name} is missing): "
                      "pip install 'taskgraph-fsm[web]'") from None

from .api import create_router
from .app import create_app, worker_lifespan
from .query import MAX_LIMIT

__all__ = ["create_app", "create_router", "worker_lifespan", "MAX_LIMIT"]

