"""Background jobs and graphs kept in a durable store, and the worker that runs them."""

from .handle import JobHandle, Progress
from .jobs import JobFunction, JobOptions, progress
from .queue import DurableQueue

__all__ = ["DurableQueue", "JobFunction", "JobOptions", "JobHandle", "Progress", "progress"]
