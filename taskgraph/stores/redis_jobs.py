"""The jobs of an enqueue as the Redis store's enqueue script takes them (see :mod:`~taskgraph.stores._redis_lua`)."""

from __future__ import annotations

from typing import Any

from .base import StoreError
from .common import unique
from .records import NewJob
from .records import label as job_label

__all__ = ["ScriptJobs"]


def _priority_key(priority: int) -> str:
    """20 digits that sort the other way round from ``priority`` (higher priority, smaller key)."""
    if not -(1 << 63) <= priority < (1 << 63):
        raise ValueError(f"priority must fit in 64 bits (-2**63 .. 2**63-1), not {priority}")
    return f"{(1 << 63) - 1 - priority:020d}"


class ScriptJobs(dict[tuple[str | None, str, int], dict[str, str]]):
    """The fields of the jobs of one enqueue for its script, those that the jobs of a batch share made once."""

    def fields(self, job: NewJob, options: str, url: str) -> dict[str, Any]:
        shared = self.get((job.key, job.name, job.priority))
        if shared is None:
            label, own = job_label(job.key if job.key is not None else job.name), job_label(job.key or job.name)
            shared = self[job.key, job.name, job.priority] = {
                "name": job.name, "label": label, "rlabel": repr(label), "own": own, "rown": repr(own),
                "priority": str(int(job.priority)), "pk": _priority_key(int(job.priority))}
        after = unique(job.after)
        if job.on != "success" and len(after) != 1:
            raise StoreError(f"{url}: job {job.id!r} runs on {job.on}: it must have one prerequisite, not {len(after)}")
        fields = {**shared, "id": job.id, "queue": job.queue, "options": options, "delay": repr(float(job.delay)),
                  "after": after}
        if job.key is not None:
            fields["key"] = job.key
        if job.not_before is not None:
            fields["not_before"] = repr(float(job.not_before))
        if job.on != "success":
            fields["on"] = job.on
        return fields
