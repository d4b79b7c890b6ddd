"""What a dashboard reads (see :mod:`.views`) of the Redis store, and its filtered listing.

* Edges: ``P:after:ID``, the set of a job's prerequisites, read for many jobs in one pipeline.
* Jobs finished per minute: a script counts ``P:finished`` (final jobs by finish time) minute by minute in the
  server, keeping each minute's counts in ``P:views:minutes`` so that a refresh reads only the jobs that finished
  since the last (``ZCOUNT`` tells when a counted job left the set: that minute is counted again); nothing crosses
  the network but the counts. A call reads 5,000 jobs at most (about 50 ms of the server), so a first look after
  a burst of 90,000 finished jobs is a few dozen calls, none holding the server long.
* A snapshot: counts, scheduled jobs, workers, jobs finished per minute and one job with its history in one
  pipeline (one round trip); a page of jobs and the edges into it after.
* A filtered listing (by status, name, queue, age): a script walks ``P:all`` newest first in the server, a few
  thousand jobs per call, skipping the offset there and answering only the ids of the page; a deep page costs a
  few calls of a few milliseconds, where reading every job of the walk to the client took hundreds.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from . import _redis_lua as lua
from .records import FIELDS, Event, JobRecord, metadata_matches
from .redis_records import _record
from .views import Look, Snapshot, per_minute

__all__ = ["RedisViews"]

# ARGV: prefix, minutes, budget. DONE counts, then FAILED counts, of each clock minute, the oldest first (the last is
# the current minute), then 1 if they are complete. A minute's counts are kept in P:views:minutes
# ("done:failed:total:upto", total the members of P:finished counted, upto the last finish time among them) and only
# the jobs that finished since are read: a job joins P:finished at its end, scored by the time then, and leaves it
# when retried, purged or deleted, so a minute whose members up to "upto" are no longer "total" lost one, and is
# counted again whole. A call reads about budget jobs at most (ending at a whole finish time), keeps what it
# counted, and answers 0 for complete when there may be more: the caller calls again.
_FINISHED = r"""
local minutes, left = tonumber(ARGV[2]), tonumber(ARGV[3])
local F, C = P .. ':finished', P .. ':views:minutes'
local now_m = math.floor(NOW / 60)
local done, failed, complete = {}, {}, 1
for i = 1, minutes do
  local m = now_m - minutes + i
  local lo, hi = m * 60, (m + 1) * 60
  local d, f, total, upto = 0, 0, 0, nil
  local kept = redis.call('HGET', C, m)
  if kept then
    local cd, cf, ct, cu = string.match(kept, '^(%d+):(%d+):(%d+):(.+)$')
    if cu and redis.call('ZCOUNT', F, lo, cu) == tonumber(ct) then
      d, f, total, upto = tonumber(cd), tonumber(cf), tonumber(ct), cu
    end
  end
  if left <= 0 then
    complete = 0
  else
    local from = upto and ('(' .. upto) or lo
    local new = redis.call('ZRANGEBYSCORE', F, from, '(' .. hi, 'WITHSCORES', 'LIMIT', 0, left)
    if #new / 2 >= left then  -- there may be more: stop at a whole finish time (jobs ended together share it)
      complete = 0
      local last, cut = new[#new], #new
      while cut > 0 and new[cut] == last do cut = cut - 2 end
      if cut == 0 then
        new = redis.call('ZRANGEBYSCORE', F, from, last, 'WITHSCORES')
      else
        for k = #new, cut + 1, -1 do new[k] = nil end
      end
    end
    if #new > 0 or (kept and not upto) then
      for k = 1, #new, 2 do
        local status = redis.call('HGET', jkey(new[k]), 'status')
        if status == 'DONE' then d = d + 1 elseif status == 'FAILED' then f = f + 1 end
        upto = new[k + 1]
      end
      total = total + #new / 2
      left = left - #new / 2
      if upto then
        redis.call('HSET', C, m, d .. ':' .. f .. ':' .. total .. ':' .. upto)
      else
        redis.call('HDEL', C, m)
      end
    end
  end
  done[i], failed[i] = d, f
end
if redis.call('HLEN', C) > 4 * 1440 then  -- forget the minutes of long ago
  for _, m in ipairs(redis.call('HKEYS', C)) do
    if tonumber(m) < now_m - 1440 then redis.call('HDEL', C, m) end
  end
end
for i = 1, minutes do done[#done + 1] = failed[i] end
done[#done + 1] = complete
return done
"""

# ARGV: prefix, start, budget, status, name, queue (each '=' .. value, or '' for any), before, after (seconds, or
# ''), skip, want. Walks up to budget jobs of P:all newest first from index start; skips the first skip that match;
# answers {next start (-1 at the end), how many it skipped, the ids of up to want more that match}.
_LIST = r"""
local start, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local status, name, queue = ARGV[4], ARGV[5], ARGV[6]
local before, after = tonumber(ARGV[7]), tonumber(ARGV[8])
local skip, want = tonumber(ARGV[9]), tonumber(ARGV[10])
local ids = redis.call('ZREVRANGE', P .. ':all', start, start + budget - 1)
local out, skipped = {0, 0}, 0
for i, id in ipairs(ids) do
  local r = redis.call('HMGET', jkey(id), 'id', 'status', 'name', 'queue', 'created')
  local created = tonumber(r[5]) or 0
  if r[1] and (status == '' or '=' .. tostring(r[2]) == status) and (name == '' or '=' .. tostring(r[3]) == name)
      and (queue == '' or '=' .. tostring(r[4]) == queue) and (not before or created < before)
      and (not after or created > after) then
    if skipped < skip then
      skipped = skipped + 1
    else
      out[#out + 1] = id
      if #out - 2 >= want then
        out[1], out[2] = start + i, skipped
        return out
      end
    end
  end
end
out[1], out[2] = (#ids < budget) and -1 or (start + #ids), skipped
return out
"""

# ARGV: prefix, start, stop, edges ('1' or '0'), then the fields to read. For each job of P:all newest first from
# index start to stop: its fields, then (with edges) its prerequisites. One command answers the page: packing a
# command per job cost more than the jobs' reading.
_NEWEST = r"""
local ids = redis.call('ZREVRANGE', P .. ':all', ARGV[2], ARGV[3])
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = redis.call('HMGET', jkey(id), unpack(fields))
  if ARGV[4] == '1' then out[#out + 1] = redis.call('SMEMBERS', P .. ':after:' .. id) end
end
return out
"""

_BUDGET = 5000  # jobs one listing call walks at most (a few ms of the server's time)
_COUNT_BUDGET = 5000  # finished jobs one counting call reads at most (about 50 ms of the server's time)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class RedisViews:
    """:meth:`prerequisites`, :meth:`finished_per_minute`, :meth:`snapshot` and the filtered listing of
    :class:`~.redis.RedisStore`."""

    prefix: str
    _client: Any
    _errors: Any
    _k: Any
    _rows: Any
    _scheduled: Any
    _workers: Any
    _view_scripts: tuple[Any, Any, Any] | None = None

    def _views(self) -> tuple[Any, Any, Any]:
        """The scripts: count finished jobs, walk a filtered listing, read the newest jobs."""
        if self._view_scripts is None:
            register = self._client.register_script
            self._view_scripts = tuple(register(lua._PRELUDE + script) for script in (_FINISHED, _LIST, _NEWEST))
        return self._view_scripts

    def prerequisites(self, ids: Collection[str]) -> list[tuple[str, str]]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for job_id in wanted:
                pipe.smembers(self._k("after", job_id))
            found = pipe.execute()
        return sorted((_text(p), d) for d, after in zip(wanted, found, strict=True) for p in after)

    def finished_per_minute(self, minutes: int = 60) -> dict[str, list[int]]:
        minutes = max(int(minutes), 0)
        return self._counted(None, minutes)

    def _counted(self, answer: list[Any] | None, minutes: int) -> dict[str, list[int]]:
        """The counts of the finished script's ``answer``, calling it (again) until they are complete."""
        with self._errors():
            while answer is None or not int(answer[-1]):
                answer = self._views()[0](args=[self.prefix, minutes, _COUNT_BUDGET])
        return _per_minute(answer, minutes)

    def snapshot(self, look: Look) -> Snapshot:
        minutes = max(int(look.minutes), 0)
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            if look.counts:
                pipe.hgetall(self._k("counts"))
                self._scheduled(args=[self.prefix], client=pipe)
            if look.workers:
                self._workers(args=[self.prefix, "list"], client=pipe)
            if minutes:
                self._views()[0](args=[self.prefix, minutes, _COUNT_BUDGET], client=pipe)
            if look.job is not None:
                pipe.hmget(self._k("job", look.job), FIELDS)
                pipe.lrange(self._k("events", look.job), 0, -1)
            answers = iter(pipe.execute())
        counts: dict[str, dict[str, int]] = {}
        scheduled: dict[str, int] = {}
        if look.counts:
            for key, value in next(answers).items():
                status, _, queue = _text(key).partition(":")
                if int(value) > 0:
                    counts.setdefault(queue, {})[status] = int(value)
            for queue in next(answers):
                scheduled[_text(queue)] = scheduled.get(_text(queue), 0) + 1
        workers = _workers(next(answers)) if look.workers else []
        finished = self._counted(next(answers), minutes) if minutes else None
        job, history = None, []
        if look.job is not None:
            row, events = next(answers), next(answers)
            if row[0] is not None:
                job, history = _record(row), [_event(e) for e in events]
        jobs: list[JobRecord] = []
        edges: list[tuple[str, str]] | None = None
        if look.jobs is not None and set(look.jobs) <= {"limit", "offset"}:
            jobs, edges = self._newest(int(look.jobs.get("limit", 100)), int(look.jobs.get("offset", 0)), look.edges)
        elif look.jobs is not None:
            jobs = self.list_jobs(**look.jobs)  # type: ignore[attr-defined]
        if look.edges and edges is None:
            edges = self.prerequisites([r.id for r in jobs]) if jobs else []
        return Snapshot(counts=counts, scheduled=scheduled, workers=workers, finished=finished, job=job,
                        history=history, jobs=jobs, edges=edges)

    def _newest(self, limit: int, offset: int, edges: bool) -> tuple[list[JobRecord], list[tuple[str, str]] | None]:
        """The newest jobs (a page of ``P:all`` by index) and, with ``edges``, the edges into them: one script."""
        if limit <= 0:
            return [], [] if edges else None
        offset = max(offset, 0)
        with self._errors():
            answer = self._views()[2](args=[self.prefix, offset, offset + limit - 1, "1" if edges else "0",
                                            *lua._LIGHT_FIELDS])
        rows = answer[0::2] if edges else answer
        jobs = [_record(row) for row in rows if row[0] is not None]
        if not edges:
            return jobs, None
        return jobs, sorted((_text(p), _text(row[0])) for row, after in zip(rows, answer[1::2], strict=True)
                            if row[0] is not None for p in after)

    def _list(self, status: str | None, name: str | None, queue: str | None, limit: int,
              metadata: dict[str, Any] | None, offset: int, before: float | None, after: float | None
              ) -> list[JobRecord]:
        """Jobs newest first matching the filters (one given at least), the page after ``offset``: the server
        walks ``P:all`` and skips; the page's records are read after."""
        lister = self._views()[1]
        skip = 0 if metadata else offset  # metadata is matched here: the offset too, then
        need = offset + limit if metadata else limit
        found: list[JobRecord] = []
        start = 0
        args = ["=" + v if v is not None else "" for v in (status, name, queue)]
        ages = ["" if t is None else repr(float(t)) for t in (before, after)]
        while len(found) < need and start >= 0:
            answer = lister(args=[self.prefix, start, _BUDGET, *args, *ages, skip, need - len(found)])
            start, skip = int(answer[0]), skip - int(answer[1])
            ids = answer[2:]
            if ids:
                rows = self._rows(ids, lua._LIGHT_FIELDS)
                found += [r for r in map(_record, rows) if metadata_matches(r, metadata)]
        return found[offset:offset + limit] if metadata else found[:limit]


def _per_minute(counts: list[Any], minutes: int) -> dict[str, list[int]]:
    rows = [(status, minutes - 1 - k, counts[k + i * minutes]) for i, status in enumerate(("DONE", "FAILED"))
            for k in range(minutes)]
    return per_minute(rows, minutes)


def _workers(rows: list[Any]) -> list[dict[str, Any]]:
    from .common import by_start, read_worker

    return by_start(info for info in map(read_worker, rows) if info is not None)


def _event(row: bytes) -> Event:
    import json

    at, event, source, dest, worker, detail = json.loads(row)
    return Event(float(at), event, source, dest, worker, detail)
