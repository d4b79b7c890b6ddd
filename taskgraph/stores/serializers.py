"""How arguments and results are written into a store: JSON by default, pickle by choice.

JSON keeps a store readable and means that whoever can write to it cannot make workers run code of their
choosing. Pickle carries any Python object, and so trusts every writer of the store: a pickle can run anything
when it is loaded. A queue says which it uses; a worker refuses a payload written with another.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from ..errors import SerializationError, describe

__all__ = ["Serializer", "JsonSerializer", "PickleSerializer", "get_serializer", "WIRE_VERSION"]

#: The version of the payload record; optional fields added later must have defaults so old records still load.
WIRE_VERSION = 1


class Serializer:
    """Turns ``(args, kwargs)`` and results into bytes and back."""

    name = "?"

    def dumps(self, value: Any) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def loads(self, data: bytes) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_call(self, task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        """The payload of a call.

        Raises:
            SerializationError: an argument cannot be encoded; the message names it.
        """
        try:
            return self.dumps({"v": WIRE_VERSION, "args": list(args), "kwargs": kwargs})
        except Exception:
            for i, arg in enumerate(args):
                self._check(task, f"argument {i}", arg)
            for key, value in kwargs.items():
                self._check(task, f"keyword argument {key!r}", value)
            raise

    def decode_call(self, data: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments of a payload.

        Raises:
            SerializationError: the payload cannot be read as a call record of this serializer.
        """
        try:
            record = self.loads(data)
        except Exception as exc:
            raise SerializationError(
                f"the payload cannot be read as {self.name} ({type(exc).__name__}: {exc}); it was written by "
                "something else, or damaged"
            ) from None
        if not isinstance(record, dict) or type(record.get("v")) is not int:
            raise SerializationError("the payload is not a taskgraph call record")
        if not isinstance(record.get("args", []), list) or not isinstance(record.get("kwargs", {}), dict):
            raise SerializationError("the payload is not a taskgraph call record: its args must be a list and its "
                                     "kwargs an object")
        if record["v"] > WIRE_VERSION:
            raise SerializationError(
                f"the payload is version {record['v']}, newer than this taskgraph reads ({WIRE_VERSION}): "
                "upgrade taskgraph on this worker"
            )
        return tuple(record.get("args", ())), dict(record.get("kwargs", {}))

    def encode_result(self, task: str, value: Any) -> bytes:
        try:
            return self.dumps(value)
        except Exception as exc:
            raise SerializationError(
                f"task {task!r}: its result ({describe(value)}) cannot be encoded as {self.name}: {exc}"
                + (f". {self.result_advice}" if self.result_advice else "")
            ) from None

    def _check(self, task: str, what: str, value: Any) -> None:
        try:
            self.dumps(value)
        except Exception as exc:
            raise SerializationError(
                f"task {task!r}: {what} ({describe(value)}) cannot be encoded as {self.name}: {exc}. "
                + self.advice
            ) from None

    advice = ""
    result_advice = ""


class JsonSerializer(Serializer):
    """JSON: dicts, lists, strings, numbers, booleans and None (tuples come back as lists)."""

    name = "json"
    advice = (
        "Pass JSON values (dict, list, str, int, float, bool, None), or open the queue with "
        "?serializer=pickle if you trust everyone who can write to the store"
    )
    result_advice = (
        "Return JSON values (dict, list, str, int, float, bool, None: a datetime as its isoformat(), a set as a "
        "list...), or open the queue with ?serializer=pickle if you trust everyone who can write to the store"
    )

    def dumps(self, value: Any) -> bytes:
        _string_keys(value)
        return _ENCODE(value).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PickleSerializer(Serializer):
    """Pickle: any picklable object. Loading a pickle can run any code: use it only with a store that only
    trusted parties can write."""

    name = "pickle"
    advice = "Pass picklable values: module-level functions and classes, no locks, sockets or open files"

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


# json.dumps with these settings would make an encoder per call
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

_SERIALIZERS = {"json": JsonSerializer, "pickle": PickleSerializer}


def get_serializer(name: str) -> Serializer:
    try:
        return _SERIALIZERS[name]()
    except KeyError:
        known = ", ".join(sorted(_SERIALIZERS))
        raise ValueError(f"unknown serializer {name!r}; known serializers: {known}") from None


def _string_keys(value: Any) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"JSON object keys are strings: the key {k!r} would come back as a string")
                stack.append(item)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
