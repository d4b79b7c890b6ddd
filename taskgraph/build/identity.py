"""A task's identity for builds: its function's import path and its arguments, canonically encoded, as a digest.

Two runs of a task with the same identity do the same thing, so the identity is part of what makes a task up to
date. It is built from explicit values only, never from source text: change a function's code and the task is
not rerun unless an argument changes too (pass a ``version`` argument and bump it), as with ninja's commands.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from .errors import BuildError

__all__ = ["identity", "canonical", "import_path"]


def import_path(func: Any) -> str:
    """``module:qualname`` of a function or class."""
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', type(func).__qualname__)}"


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data that is equal for equal values, whatever the order of a dict or set.

    Raises:
        TypeError: ``value`` has no stable encoding (an object whose repr is the default one, with its address).
    """
    if type(value) is str or value is None or isinstance(value, (bool, int, str)):
        return value
    if type(value) is tuple and all(type(v) is str for v in value):  # a command: the common case, made quick
        return ["tuple", list(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, (bytes, bytearray)):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [canonical(v) for v in value]]
    if isinstance(value, Mapping):
        items = [[canonical(k), canonical(v)] for k, v in value.items()]
        return ["dict", sorted(items, key=json.dumps)]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted((canonical(v) for v in value), key=json.dumps)]
    if isinstance(value, os.PathLike):
        return ["path", os.fspath(value)]
    if isinstance(value, enum.Enum):
        return ["enum", import_path(type(value)), value.name]
    if isinstance(value, functools.partial):
        return ["partial", canonical(value.func), canonical(value.args), canonical(value.keywords)]
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return ["callable", import_path(value)]
    if dataclasses.is_dataclass(value):
        fields = [[f.name, canonical(getattr(value, f.name))] for f in dataclasses.fields(value)]
        return ["dataclass", import_path(type(value)), fields]
    if type(value).__repr__ is object.__repr__:
        raise TypeError(f"an argument of type {type(value).__qualname__!r} has no stable value to key a build on: "
                        "pass plain values (str, numbers, paths, lists, dicts, dataclasses) or give its class a "
                        "__repr__")
    return ["repr", import_path(type(value)), repr(value)]


def identity(task: Any) -> str:
    """The digest of what ``task`` does: its function's import path and its canonical arguments.

    Raises:
        BuildError: an argument has no stable encoding.
    """
    try:
        data = [canonical(task.func), canonical(task.args), canonical(dict(task.kwargs))]
    except TypeError as exc:
        raise BuildError(f"task {task.name!r}: {exc}") from None
    import hashlib

    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
