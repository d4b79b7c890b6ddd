"""The up-to-date check: :class:`FileBuilder`, the :class:`~taskgraph.scheduler.builds.Builder` of one run.

A task that declares files is up to date when every output exists and, since its last successful run, neither
its identity (:func:`~.identity.identity`) nor the content of any input has changed. Its inputs are the files its
patterns match now plus the outputs of its prerequisites (through prerequisites that declare no files). A file's
content digest is taken from the state database while its size and mtime are those it had when hashed, and
computed (BLAKE2b) otherwise: touching a file without changing it reruns nothing.

A shell task with a depfile (``shell(..., depfile="x.d")``, see :mod:`.depfile`) has more inputs: those its
depfile listed after its last successful run (the headers a compile included). They are read from the depfile
when the task has run, and kept in its state; one that no longer exists makes the task out of date.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any

from ..files import GLOB_CHARS
from ..task import Task
from .depfile import DepfileError, read_depfile
from .errors import BuildError
from .identity import identity
from .shell import depfile_of
from .state import FileState, StateDB, TaskState, default_path

__all__ = ["FileBuilder", "file_digest", "show", "prerequisite_outputs"]

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


def prerequisite_outputs(task: Task) -> list[str]:
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
        self.stable: dict[str, str] = {}  # digests of files no task of the run writes, each taken once per run
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
                self.stable.pop(path, None)  # written in this run after all (a task admitted later)
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
        paths.extend(prerequisite_outputs(task))
        return sorted(set(paths))

    def digest(self, task: Task, path: str, missing: str | None = None) -> str:
        """The content digest of input ``path``, read again only if its size or mtime changed; ``missing`` if it
        does not exist and ``missing`` is not None.

        A file that no task of the run writes (a source, a system header that many depfiles list) is looked at
        once per run, as make and ninja do: a build does not watch its sources change under it."""
        known_now = self.stable.get(path)
        if known_now is not None:
            return known_now
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if missing is not None:
                return missing
            raise BuildError(f"task {task.name!r}: input {show(path)} does not exist") from None
        except OSError as exc:
            raise BuildError(f"task {task.name!r}: cannot read input {show(path)}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise BuildError(f"task {task.name!r}: input {show(path)} is a folder; give the files in it, or a "
                             f"pattern such as {show(os.path.join(path, '**', '*'))}")
        assert self.files is not None
        known = self.files.get(path)
        if known is not None and known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
            digest = known.digest
        else:
            try:
                digest = file_digest(path)
            except OSError as exc:
                raise BuildError(f"task {task.name!r}: cannot read input {show(path)}: {exc.strerror}") from None
            self.hashed += 1
            self.files[path] = self.new_files[path] = FileState(st.st_size, st.st_mtime_ns, digest)
        if path not in self.writers:
            self.stable[path] = digest
        return digest

    def states(self, task: Task) -> tuple[TaskState, TaskState | None]:
        """``task``'s state now, with its declared inputs only, and its last recorded state (None if it never ran);
        the inputs its last depfile listed are hashed too (a missing one as ""), into the files cache."""
        if self.files is None:
            self.files, self.tasks = self.db.load()
        now = TaskState(identity(task), {path: self.digest(task, path) for path in self.inputs(task)})
        last = self.tasks.get(task.key or task.name)
        return now, last

    def found_now(self, task: Task, now: TaskState, last: TaskState) -> dict[str, str]:
        """The digests now of the inputs ``task``'s last depfile listed ("" for one that no longer exists)."""
        return {p: self.digest(task, p, "") for p in last.found if p not in now.inputs}

    def uptodate(self, task: Task) -> bool:
        now, last = self.states(task)
        assert task.files is not None
        if (not self.force and last is not None and last.identity == now.identity
                and all(map(os.path.exists, task.files.outputs))):
            if last.found:
                if last.inputs == {**now.inputs, **self.found_now(task, now, last)}:
                    return True
            elif last.inputs == now.inputs:
                return True
        self.checked[task] = now
        return False

    def verify(self, task: Task) -> BaseException | None:
        assert task.files is not None
        missing = [show(p) for p in task.files.outputs if not os.path.exists(p)]
        if missing:
            return BuildError(f"task {task.name!r} did not make its output{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)}")
        depfile = depfile_of(task)
        state = self.checked.get(task)
        if depfile is None or state is None:
            return None
        try:
            found = read_depfile(depfile, task.kwargs.get("cwd") or os.getcwd())
        except FileNotFoundError:
            return BuildError(f"task {task.name!r} ran but did not write its depfile {show(depfile)}: its command "
                              f"must write it (gcc and clang: -MD -MF {show(depfile)})")
        except (OSError, UnicodeError) as exc:
            return BuildError(f"task {task.name!r}: cannot read its depfile {show(depfile)}: "
                              f"{getattr(exc, 'strerror', None) or exc}")
        except DepfileError as exc:
            return BuildError(f"task {task.name!r}: its depfile {show(depfile)} is not a make rule "
                              f"(TARGET: PREREQUISITES...), as gcc -MD writes: {exc}")
        outputs = set(task.files.outputs)
        try:
            extra = {p: self.digest(task, p, "") for p in found if p not in state.inputs and p not in outputs}
        except BuildError as exc:  # a folder, an unreadable file
            return BuildError(f"{exc} (listed by its depfile {show(depfile)})")
        self.checked[task] = state._replace(inputs={**state.inputs, **extra}, found=tuple(extra))
        return None

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
