"""The URL of a Redis store: its parts and options as redis-py's keyword arguments."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from ..urls import redact, seconds, split, store_options
from .base import StoreError

__all__ = ["parse", "DEFAULT_PREFIX"]

DEFAULT_PREFIX = "taskgraph"
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_URL_OPTIONS = {
    "prefix", "socket_connect_timeout", "socket_timeout", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile",
    "ssl_keyfile",
}
_URL_SHAPE = "write it like redis://[user:password@]host[:port][/db][?prefix=NAME] (rediss:// for TLS)"

def parse(url: str, prefix: str | None = None) -> dict[str, Any]:
    """The redis.Redis keyword arguments a URL names, with ``prefix`` (``prefix`` if given, else the URL's) and
    ``password`` among them.

    Raises:
        StoreError: the URL is malformed, or an option has a bad value.
    """
    shown = redact(url)
    try:
        parts = split(url.strip())
        if parts.scheme.lower() not in ("redis", "rediss"):
            raise ValueError(f"{shown}: the scheme must be redis:// or rediss:// (TLS)")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{shown}: the port must be a number from 1 to 65535") from None
        path = unquote(parts.path).strip("/")
        if path and not path.isdigit():
            raise ValueError(f"{shown}: the path must be a database number like /0, not {path!r}")
        options = store_options(parts, shown, _URL_OPTIONS)
        tls = parts.scheme.lower() == "rediss"
        if not tls and any(name.startswith("ssl_") for name in options):
            raise ValueError(f"{shown}: ssl_* options need a rediss:// (TLS) URL")
        reqs = options.pop("ssl_cert_reqs", "required")
        if reqs not in ("none", "optional", "required"):
            raise ValueError(f"{shown}: ssl_cert_reqs must be none, optional or required, not {reqs!r}")
        prefix = options.pop("prefix", DEFAULT_PREFIX) if prefix is None else prefix
        if not prefix:
            raise ValueError(f"{shown}: the prefix is empty; give one like ?prefix=myapp, or leave the option out")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"{shown}: the prefix {prefix!r} is not valid; use 1 to 100 letters, digits, '_', '-' or "
                             "'.' (no ':' and no wildcards), like ?prefix=myapp")
        settings: dict[str, Any] = {
            "host": parts.hostname or "localhost", "port": port or 6379, "db": int(path) if path else 0,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password is not None else None, "prefix": prefix,
            "socket_keepalive": True,
        }
        for name, default in (("socket_connect_timeout", 10.0), ("socket_timeout", 30.0)):
            settings[name] = seconds(shown, name, options.pop(name, None), default)
        options.pop("prefix", None)
        if tls:
            settings.update(ssl=True, ssl_cert_reqs=reqs, **options)  # the ssl_* files
    except ValueError as exc:
        raise StoreError(f"{exc}; {_URL_SHAPE}") from None
    return settings
