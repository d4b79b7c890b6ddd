"""Reaching a Dask scheduler: the ``dask://`` and ``dask+tls://`` URLs, and the client that connects to it."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any
from urllib.parse import SplitResult

from ...urls import query_options, shown

__all__ = ["INSTALL_HINT", "import_distributed", "parse_url", "connect", "total_threads"]

log = logging.getLogger("taskgraph")

#: What to run when the ``distributed`` package is missing.
INSTALL_HINT = "pip install 'taskgraph-fsm[dask]'"


def import_distributed() -> Any:
    """The ``distributed`` package, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"the Dask queue needs the distributed package: {INSTALL_HINT}") from exc
    return distributed


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_url(url: SplitResult) -> tuple[str, dict[str, Any]]:
    """The scheduler address and the :class:`~taskgraph.queues.dask.DaskQueue` options of a ``dask://HOST:PORT``
    or ``dask+tls://HOST:PORT`` URL (see docs/queues.md).

    Options: ``timeout`` (seconds to connect, 10), ``capacity`` (a whole number), ``track_start`` (true or false),
    ``window`` (a whole number of tasks, 0 or more: see :class:`~taskgraph.queues.dask.DaskQueue`);
    for ``dask+tls://`` also ``ca``, ``cert`` and ``key``, the files of the certificate authority and of the client's
    certificate and key (without them, Dask's own TLS settings apply).

    Raises:
        ValueError: the URL is malformed or has an unknown option.
        ImportError: ``distributed`` is not installed (for ``dask+tls://``).
    """
    text = shown(url)
    tls = url.scheme.lower() == "dask+tls"
    example = f"{url.scheme}://127.0.0.1:8786"
    if "@" in url.netloc:
        raise ValueError(f"{text!r}: a Dask scheduler address takes no user name or password; write {example}")
    options = query_options(url, {"timeout", "capacity", "track_start", "window"}
                            | ({"ca", "cert", "key"} if tls else set()))
    if url.path.strip("/") or url.fragment:
        raise ValueError(f"{text!r}: a Dask scheduler address is a host and a port, nothing after; write {example}")
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host, port = url.hostname, -1
    if not host:
        raise ValueError(f"{text!r}: say the scheduler's host and port, like {example}")
    if port is None:
        raise ValueError(f"{text!r}: say the scheduler's port, like {url.scheme}://{url.netloc}:8786 (Dask's default)")
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port must be a whole number from 1 to 65535, like {example}")
    timeout = _number(text, "timeout", options.get("timeout"), 10.0, float)
    capacity = _number(text, "capacity", options.get("capacity"), None, int)
    flag = options.get("track_start", "true").strip().lower()
    if flag not in _TRUE | _FALSE:
        raise ValueError(f"{text!r}: track_start must be true or false, not {options['track_start']!r}")
    window = options.get("window")
    if window is not None and not (window.strip().isdigit() and window.strip().isascii()):
        raise ValueError(f"{text!r}: window must be a whole number of tasks, 0 or more, not {window!r}")
    security = None
    if tls:
        import_distributed()
    if tls and any(options.get(name) for name in ("ca", "cert", "key")):
        for name in ("ca", "cert", "key"):
            path = options.get(name)
            if path and not os.path.isfile(path):
                raise ValueError(f"{text!r}: the {name} file {path!r} does not exist")
        distributed = import_distributed()
        security = distributed.Security(
            tls_ca_file=options.get("ca") or None,
            tls_client_cert=options.get("cert") or None,
            tls_client_key=options.get("key") or None,
            require_encryption=True,
        )
    elif tls and not _tls_configured():
        raise ValueError(
            f"{text!r}: say where the certificates are, like {url.scheme}://{url.netloc}?ca=CA.pem&cert=CERT.pem"
            "&key=KEY.pem (or set Dask's distributed.comm.tls options)"
        )
    where = f"[{host}]" if ":" in host else host
    address = f"{'tls' if tls else 'tcp'}://{where}:{port}"
    given = {} if window is None else {"window": int(window)}
    return address, {"capacity": capacity, "timeout": timeout, "track_start": flag in _TRUE, "security": security,
                     **given}


def _tls_configured() -> bool:
    """Whether Dask's configuration names a certificate authority for clients."""
    import dask

    return bool(dask.config.get("distributed.comm.tls.ca-file", None))


def _number(text: str, name: str, value: str | None, default: Any, kind: type) -> Any:
    """A positive number from a URL option, or ``default`` when it is absent."""
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if not number > 0:
        what = "whole number" if kind is int else "number of seconds"
        raise ValueError(f"{text!r}: {name} must be a positive {what}, not {value!r}")
    return number



def connect(address: str, timeout: float, security: Any = None) -> Any:
    """A new client of the scheduler at ``address``, or a ConnectionError that says what to do."""
    distributed = import_distributed()
    try:
        return distributed.Client(address, timeout=timeout, security=security, set_as_default=False)
    except Exception as exc:
        _close_unborn_client(exc, distributed.Client)
        if not isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
            raise
        raise ConnectionError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({exc}); start one with `dask scheduler` "
            f"and its workers with `dask worker {address}`, or check the host and port (and the scheme: "
            "dask+tls:// for a scheduler that requires TLS)"
        ) from exc


def _close_unborn_client(exc: BaseException, kind: Any) -> None:
    """Stop what the client whose constructor raised ``exc`` started: Dask leaves its event loop thread running."""
    tb = exc.__traceback__
    while tb is not None:
        client = tb.tb_frame.f_locals.get("self")
        if isinstance(client, kind):
            try:
                client.close(timeout=1)
                runner = getattr(client, "_loop_runner", None)
                if runner is not None:
                    runner.stop()
            except Exception:
                log.debug("cleaning up a Dask client that could not connect failed", exc_info=True)
            return
        tb = tb.tb_next


def total_threads(client: Any, ask: bool) -> int:
    """The cluster's total thread count: asked of the scheduler, or as the client last heard it (-1 if unknown)."""
    if ask:
        try:
            return sum(client.nthreads().values())
        except Exception:
            return 0
    info = getattr(client, "_scheduler_identity", None)  # refreshed by the client every 2 s
    threads = info.get("total_threads") if isinstance(info, dict) else None
    return threads if isinstance(threads, int) else -1
