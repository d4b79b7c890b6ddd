"""Importable task functions, so that process queues can pickle them by reference."""

from __future__ import annotations

import asyncio
import os
import time


def noop() -> None:
    return None


def square(x: int) -> int:
    return x * x


def add(*xs: int) -> int:
    return sum(xs)


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def pid() -> int:
    return os.getpid()


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def crash() -> None:
    os._exit(13)


def returns_unpicklable() -> object:
    return lambda: None


class Unpicklable(Exception):
    def __init__(self, handle: object) -> None:
        super().__init__("cannot travel")
        self.handle = handle

    def __reduce__(self):  # type: ignore[override]
        raise TypeError("Unpicklable cannot be pickled")


def raise_unpicklable() -> None:
    raise Unpicklable(object())


async def async_square(x: int) -> int:
    await asyncio.sleep(0)
    return x * x


async def async_fail(message: str = "async boom") -> None:
    await asyncio.sleep(0)
    raise ValueError(message)
