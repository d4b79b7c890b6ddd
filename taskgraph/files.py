"""What a task knows of files: the paths it declares (``Task(..., inputs=[...], outputs=[...])``), checked and
normalised when the task is made.

Nothing more happens here: the scheduler asks whether such a task is up to date through the hook in
:mod:`taskgraph.scheduler.builds`, which :mod:`taskgraph.build` fills when it is imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, NamedTuple

from .errors import describe

__all__ = ["Files", "declare_files", "GLOB_CHARS"]

GLOB_CHARS = frozenset("*?[")


class Files(NamedTuple):
    """The files a task declares, as absolute paths (inputs may be glob patterns)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _paths(name: str, kind: str, paths: Iterable[Any]) -> tuple[str, ...]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = (paths,)
    result = []
    for p in paths:
        if not isinstance(p, (str, os.PathLike)) or not os.fspath(p):
            raise TypeError(f"task {name!r}: {kind} must be paths (str or os.PathLike), not {describe(p)}")
        result.append(os.path.abspath(os.fspath(p)))
    return tuple(dict.fromkeys(result))


def declare_files(name: str, inputs: Iterable[Any], outputs: Iterable[Any]) -> Files:
    """The files of task ``name``, checked and made absolute (relative paths are taken from the current directory).

    Raises:
        TypeError: a path is not a str or os.PathLike.
        ValueError: an output is a glob pattern, or a path is both an input and an output.
    """
    files = Files(_paths(name, "inputs", inputs), _paths(name, "outputs", outputs))
    for path in files.outputs:
        if GLOB_CHARS & set(path):
            raise ValueError(f"task {name!r}: output {path!r} is a glob pattern; an output must be a path")
        if path in files.inputs:
            raise ValueError(f"task {name!r}: {path!r} is both an input and an output; a task must not rewrite "
                             "its own input")
    return files
