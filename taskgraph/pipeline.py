"""Pipelines: the task graph a file or a module defines, as the ``taskgraph`` command loads it.

``PIPELINE`` is a path to a Python file (``pipelines/nightly.py``) or an importable module (``myapp.pipeline``),
optionally followed by ``:OBJECT``. What is collected:

* with ``:OBJECT``: that attribute of the module (dotted names allowed) — a :class:`~taskgraph.Task`, an iterable
  of tasks (list, tuple, set, dict values), or a function taking no arguments that returns one of those;
* without it: every module-level name bound to a :class:`~taskgraph.Task`, or to a list, tuple, set or dict whose
  values are all tasks; names starting with ``_`` are left out.

The graph is those tasks and all their prerequisites. A file is run as a module named after it (``nightly`` for
``pipelines/nightly.py``), with its folder first on ``sys.path`` so that it can import its neighbours, and so that
worker processes started with spawn or forkserver (``processes://N?start=spawn``) can import its functions. When
that name is taken by another module or is not an identifier, the module is named ``"__taskgraph_pipeline__"``.
Either way its ``if __name__ == "__main__":`` block does not run.

A pipeline reads its parameters (``taskgraph run PIPELINE -D name=value``) from :data:`params`, a read-only mapping
of strings filled before the pipeline is imported: ``src = params.get("src", "src")``.
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .graph import closure
from .task import Task

__all__ = ["Pipeline", "PipelineError", "load_pipeline", "params", "Params"]

FILE_MODULE_NAME = "__taskgraph_pipeline__"
_LOADED_MARK = "__taskgraph_loaded__"  # set on the modules load_pipeline made from files


class PipelineError(ValueError):
    """A pipeline cannot be loaded, or a target is not in it. The message says what to do."""


class Params(Mapping[str, str]):
    """The parameters given to the pipeline being loaded (``-D name=value``): names to strings, read-only."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"pipeline parameter {name!r} is not set: give -D {name}=VALUE, or read it with "
                           f"params.get({name!r}, DEFAULT)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"params({self._values!r})"

    def given(self, values: Mapping[str, str]) -> None:
        """Set the parameters of the next pipeline loaded (the ``taskgraph`` command does, from ``-D``)."""
        self._values = dict(values)


#: The parameters of the pipeline being loaded.
params = Params()


@dataclass
class Pipeline:
    """The tasks a pipeline defines.

    Attributes:
        spec: the ``PIPELINE`` it was loaded from.
        tasks: the tasks collected from the module and all their prerequisites, each after its prerequisites.
        path: the file of the pipeline's module, if it has one.
    """

    spec: str
    tasks: list[Task]
    path: str | None = None

    def targets(self, names: Sequence[str] = ()) -> list[Task]:
        """The tasks to make: those named, or, with no names, every task no other task of the pipeline requires.

        Raises:
            PipelineError: a name is not a task of the pipeline.
        """
        if not names:
            ours = set(self.tasks)
            return [t for t in self.tasks if not any(d in ours for d in t._dependents)]
        known = {t.name: t for t in reversed(self.tasks)}  # a name several tasks share: the first
        for name in names:
            if name not in known:
                import difflib

                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PipelineError(f"no task named {name!r} in {self.spec}{hint} (`taskgraph list {self.spec}` "
                                    "lists them)")
        return [known[name] for name in names]


def _import(spec: str) -> Any:
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise PipelineError(f"no such file: {spec}")
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = _module_name(path)
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise PipelineError(f"{spec} cannot be loaded as Python")
        module = importlib.util.module_from_spec(loader_spec)
        setattr(module, _LOADED_MARK, True)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise PipelineError(f"{spec}:{exc.lineno}: syntax error: {exc.msg}") from exc
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise PipelineError(f"no module named {spec!r} (give a file path, or a module importable from here)")
        raise


def _module_name(path: str) -> str:
    """The name to load the file at ``path`` under: its stem, unless another module already has that name."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if not stem.isidentifier() or keyword.iskeyword(stem) or stem == "__main__":
        return FILE_MODULE_NAME
    current = sys.modules.get(stem)
    if current is None or getattr(current, _LOADED_MARK, False):
        return stem
    where = getattr(current, "__file__", None)
    if where and os.path.abspath(where) == path:  # the pipeline was imported already, by itself or a neighbour
        return stem
    return FILE_MODULE_NAME


def _tasks_in(value: Any) -> list[Task] | None:
    if isinstance(value, Task):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple, set, frozenset)) and value and all(isinstance(v, Task) for v in value):
        return list(value)
    return None


def load_pipeline(spec: str, parameters: Mapping[str, str] | None = None) -> Pipeline:
    """Load ``PIPELINE`` (see the module docstring), with ``parameters`` in :data:`params` if given.

    Raises:
        PipelineError: no such file or module, no such object, or no tasks found.
        CycleError: the tasks form a cycle.
        Exception: whatever the pipeline's own code raises while it is imported.
    """
    if parameters is not None:
        params.given(parameters)
    windows_path = len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"  # C:\pipelines\nightly.py
    where, _, attribute = (spec, "", "") if windows_path else spec.partition(":")
    module = _import(where)
    if attribute:
        value: Any = module
        for part in attribute.split("."):
            if not hasattr(value, part):
                raise PipelineError(f"{where} has no attribute {attribute!r}")
            value = getattr(value, part)
        if callable(value) and not isinstance(value, Task):
            value = value()
        given = _tasks_in(value)
        if given is None:
            raise PipelineError(f"{spec} is a {type(value).__name__}, not a task or a collection of tasks")
    else:
        given = []
        for name, value in vars(module).items():
            if not name.startswith("_"):
                given.extend(_tasks_in(value) or [])
        given = list(dict.fromkeys(given))
        if not given:
            raise PipelineError(f"no tasks found in {spec}: define Task objects (or lists of them) at module level, "
                                f"or name one with {spec}:OBJECT")
    where_from = getattr(module, "__file__", None)
    return Pipeline(spec, closure(given), os.path.abspath(where_from) if where_from else None)
