"""The up-to-date check: :class:`FileBuilder`, the :class:`~taskgraph.scheduler.builds.Builder` of one run.

A task that declares files is up to date when every output exists and, since its last successful run, neither
its identity (:func:`~.identity.identity`) nor the content of any input has changed. Its inputs are the files its
patterns match now plus the outputs of its prerequisites (through prerequisites that declare no files). A file's
content digest is taken from the state database while its size and mtime are those it had when hashed, and
computed (BLAKE2b) otherwise: touching a file without changing it reruns nothing.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any

from ..files import GLOB_CHARS
from ..task import Task
from .errors import BuildError
from .identity import identity
from .state import FileState, StateDB, TaskState, default_path

__all__ = ["FileBuilder", "file_digest", "show"]

FLUSH_EVERY = 500  # task states kept before they are written
FLUSH_AFTER = 2.0  # seconds


def show(path: str) -> str:
    """A path as messages show it: relative to the current directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if rel.startswith(os.pardir) else rel


def file_digest(path: str) -> str:
    """The BLAKE2b digest of a file's content, in hex."""
    import hashlib  # here, not at import: most programs that import taskgraph never build

    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _prerequisite_outputs(task: Task) -> list[str]:
    """The outputs of ``task``'s prerequisites, looking through those that declare no files."""
    found: list[str] = []
    seen: set[Task] = set()
    stack = list(task.prerequisites)
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        if p.files is not None:
            found.extend(p.files.outputs)
        else:
            stack.extend(p.prerequisites)
    return found


def _closure(task: Task) -> set[Task]:
    found: set[Task] = set()
    stack = list(task.prerequisites)
    while stack:
        p = stack.pop()
        if p not in found:
            found.add(p)
            stack.extend(p.prerequisites)
    return found


class FileBuilder:
    """Decides which tasks of one run are up to date, and records those that ran.

    Args:
        force: no task is up to date (each runs, and its new state is recorded).
        state: the state database's path; None for ``.taskgraph/state.sqlite`` in the current directory.
    """

    def __init__(self, force: bool = False, state: Any = None) -> None:
        self.force = bool(force)
        self.db = StateDB(default_path() if state is None else state)
        self.writers: dict[str, Task] = {}  # output -> the task of the run that writes it
        self.keys: dict[str, Task] = {}
        self.files: dict[str, FileState] | None = None  # loaded on first use
        self.tasks: dict[str, TaskState] = {}
        self.checked: dict[Task, TaskState] = {}  # what a task that runs now will be recorded with
        self.new_files: dict[str, FileState] = {}
        self.new_tasks: dict[str, TaskState] = {}
        self.flushed = time.monotonic()
        self.hashed = 0  # files read to hash them, in this run

    def admit(self, tasks: list[Task]) -> None:
        """Refuse, before anything runs, declarations that cannot work (see
        :class:`~taskgraph.scheduler.builds.Builder`)."""
        declaring = [t for t in tasks if t.files is not None]
        for t in declaring:
            assert t.files is not None
            key = t.key or t.name
            other = self.keys.setdefault(key, t)
            if other is not t:
                raise BuildError(f"two tasks named {key!r} declare files; the state of builds is kept by name: give "
                                 "them different names (or keys)")
            for path in t.files.outputs:
                other = self.writers.setdefault(path, t)
                if other is not t:
                    raise BuildError(f"tasks {other.name!r} and {t.name!r} both declare the output {show(path)}: "
                                     "each file must be made by one task")
        for t in declaring:
            assert t.files is not None
            before: set[Task] | None = None
            for path in t.files.inputs:
                if GLOB_CHARS & set(path):
                    continue
                writer = self.writers.get(path)
                if writer is not None:
                    before = _closure(t) if before is None else before
                    if writer not in before:
                        raise BuildError(f"task {t.name!r} reads {show(path)}, which task {writer.name!r} writes, "
                                         f"but does not require it: add {t.name}.require({writer.name})")
                elif not os.path.exists(path):
                    before = _closure(t) if before is None else before
                    if not any(p.files is not None and path in p.files.outputs for p in before):
                        raise BuildError(f"task {t.name!r}: input {show(path)} does not exist, and no "
                                         "prerequisite declares it as an output")

    def inputs(self, task: Task) -> list[str]:
        """Every input of ``task`` now: its paths, what its patterns match, its prerequisites' outputs."""
        assert task.files is not None
        paths: list[str] = []
        for pattern in task.files.inputs:
            if GLOB_CHARS & set(pattern):
                import glob

                paths.extend(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            else:
                paths.append(pattern)
        paths.extend(_prerequisite_outputs(task))
        return sorted(set(paths))

    def digest(self, task: Task, path: str) -> str:
        """The content digest of input ``path``, read again only if its size or mtime changed."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise BuildError(f"task {task.name!r}: input {show(path)} does not exist") from None
        except OSError as exc:
            raise BuildError(f"task {task.name!r}: cannot read input {show(path)}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise BuildError(f"task {task.name!r}: input {show(path)} is a folder; give the files in it, or a "
                             f"pattern such as {show(os.path.join(path, '**', '*'))}")
        assert self.files is not None
        known = self.files.get(path)
        if known is not None and known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
            return known.digest
        try:
            digest = file_digest(path)
        except OSError as exc:
            raise BuildError(f"task {task.name!r}: cannot read input {show(path)}: {exc.strerror}") from None
        self.hashed += 1
        self.files[path] = self.new_files[path] = FileState(st.st_size, st.st_mtime_ns, digest)
        return digest

    def uptodate(self, task: Task) -> bool:
        if self.files is None:
            self.files, self.tasks = self.db.load()
        now = TaskState(identity(task), {path: self.digest(task, path) for path in self.inputs(task)})
        last = self.tasks.get(task.key or task.name)
        assert task.files is not None
        if not self.force and last == now and all(map(os.path.exists, task.files.outputs)):
            return True
        self.checked[task] = now
        return False

    def verify(self, task: Task) -> BaseException | None:
        assert task.files is not None
        missing = [show(p) for p in task.files.outputs if not os.path.exists(p)]
        if not missing:
            return None
        return BuildError(f"task {task.name!r} did not make its output{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)}")

    def ran(self, task: Task) -> None:
        state = self.checked.pop(task, None)
        if state is None:
            return
        self.tasks[task.key or task.name] = self.new_tasks[task.key or task.name] = state
        if len(self.new_tasks) >= FLUSH_EVERY or time.monotonic() - self.flushed >= FLUSH_AFTER:
            self.flush()

    def flush(self) -> None:
        files, self.new_files = self.new_files, {}
        tasks, self.new_tasks = self.new_tasks, {}
        self.db.write(files, tasks)
        self.flushed = time.monotonic()

    def close(self) -> None:
        self.flush()
        self.db.close()
