"""Throwaway Redis and PostgreSQL servers that a test may SIGKILL and start again.

Each server has a free loopback port and a temporary folder of its own, so killing it touches nothing the rest
of the suite uses. ``start()`` launches it and waits until it answers (a PING, a connection: never a sleep);
``kill()`` SIGKILLs it as a crash would (for PostgreSQL, the postmaster and every backend); ``start()`` again
brings it back on the same port with the same data; ``stop()`` kills it and removes its folder.

* Redis runs with an append-only file fsynced at every write (``--appendonly yes --appendfsync always``), as a
  durable deployment would: a Redis without persistence forgets everything when it is killed.
* PostgreSQL's data folder is copied from a template made once by ``initdb`` (:func:`init_postgres_template`).
  ``initdb`` and ``postgres`` refuse to run as root: as root, both run as the ``postgres`` user, and the folders
  are given to it.

A binary, an OS user or a client library that is missing makes the test skip naming it, or fail when
``CI=true`` (:func:`missing`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import IN_CI
from tests.procs import alive, wait_for

START_TIMEOUT = 60.0  # seconds a server may take to answer (crash recovery included) before the test fails


def missing(what: str, why: str) -> None:
    """Skip the calling test because ``what`` is missing; fail it instead when CI=true."""
    message = f"{why}: {what}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (bound to port 0, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """The path of ``redis-server``; skips (fails under CI=true) without it."""
    path = shutil.which("redis-server")
    if path is None:
        missing("'redis-server' is not on PATH (apt-get install redis-server)", "a throwaway Redis is needed")
    assert path is not None
    return path


def postgres_binary(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``postgres``): Debian keeps them in
    ``/usr/lib/postgresql/VERSION/bin``, off PATH; the newest version wins. Skips (fails under CI=true) without."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    path = found[-1] if found else shutil.which(name)
    if path is None:
        missing(f"{name!r} is in no /usr/lib/postgresql/*/bin and not on PATH (apt-get install postgresql)",
                "a throwaway PostgreSQL is needed")
    assert path is not None
    return path


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parts[-3]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _owner() -> dict[str, Any]:
    """Popen arguments that run a PostgreSQL program as the ``postgres`` user when we are root (it refuses root);
    none otherwise."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("running as root, and there is no 'postgres' user to run initdb and postgres as",
                "a throwaway PostgreSQL is needed")
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _give(folder: Path) -> None:
    """Make ``folder`` and everything in it the ``postgres`` user's, when we are root."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(folder):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def private_folder(prefix: str) -> Path:
    """A new folder under the system temp folder (not pytest's, which only root may enter), mode 0700."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def init_postgres_template() -> Path:
    """Run ``initdb`` once into a new folder and return it (its ``data`` folder is what servers copy)."""
    initdb = postgres_binary("initdb")
    owner = _owner()
    folder = private_folder("tg-pg-template-")
    _give(folder)
    done = subprocess.run(
        [initdb, "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale",
         "--no-sync"],
        capture_output=True, text=True, timeout=120, **owner,
    )
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return folder


class Server:
    """A server process on a free loopback port, with a folder of its own; see the subclasses."""

    kind = "server"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.log_path = folder / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def popen_options(self) -> dict[str, Any]:
        return {}

    def answers(self) -> bool:
        """Whether the server accepts a client now."""
        raise NotImplementedError

    def log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return f"----- {self.kind} on port {self.port} ({self.folder}):\n{text[-6000:]}-----"

    def start(self) -> Server:
        """Launch the server and wait until it answers; the same port and data as before after a kill."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, **self.popen_options())
        self.starts += 1
        wait_for(self._ready, START_TIMEOUT, f"{self.kind} on port {self.port} to answer", self.log)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.kind} exited with status {self.proc.returncode}\n{self.log()}")
        return self.answers()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server and every process it started, as a crash would, and wait until all are gone.

        The server is stopped (SIGSTOP) first, so that it starts no process between listing its children and the
        kill; PostgreSQL's backends are session leaders, out of the server's process group, so they are found as
        its children.
        """
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.kills += 1
        children: list[psutil.Process] = []
        try:
            server = psutil.Process(proc.pid)
            server.suspend()
            children = server.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        for pid in [proc.pid, *(c.pid for c in children)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(30)
        for child in children:  # orphans now: whoever adopted them reaps them; gone or a zombie will do
            wait_for(lambda pid=child.pid: not alive(pid), 30, f"process {child.pid} of the killed {self.kind}")

    def stop(self) -> None:
        """Kill it if it runs, and remove its folder (teardown)."""
        try:
            self.kill()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer(Server):
    """``redis-server`` with an append-only file fsynced at every write, in its own folder."""

    kind = "redis-server"

    def __init__(self) -> None:
        self.binary = redis_binary()
        try:
            import redis
        except ImportError:
            missing("redis-py is not installed (pip install redis)", "the Redis store is needed")
        self._redis = redis
        super().__init__(private_folder("tg-redis-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
        ]

    def answers(self) -> bool:
        client = self._redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())  # raises while loading the append-only file
        except self._redis.RedisError:
            return False
        finally:
            client.close()


class PostgresServer(Server):
    """``postgres`` on a copy of a template data folder, as the ``postgres`` user when we are root."""

    kind = "postgres"

    def __init__(self, template: Path) -> None:
        self.binary = postgres_binary("postgres")
        self.owner = _owner()
        try:
            import psycopg
        except ImportError:
            missing("psycopg is not installed (pip install 'psycopg[binary]')", "the PostgreSQL store is needed")
        self._psycopg = psycopg
        folder = private_folder("tg-pg-")
        shutil.copytree(template / "data", folder / "data", symlinks=True)
        os.chmod(folder / "data", 0o700)
        _give(folder)
        super().__init__(folder)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def command(self) -> list[str]:
        return [
            self.binary, "-D", str(self.folder / "data"), "-p", str(self.port), "-k", str(self.folder),
            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=40", "-c", "shared_buffers=32MB",
        ]

    def popen_options(self) -> dict[str, Any]:
        return self.owner

    def answers(self) -> bool:
        try:
            self._psycopg.connect(self.url, connect_timeout=2).close()  # refused while it recovers
        except self._psycopg.Error:
            return False
        return True
