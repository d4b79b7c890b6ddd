"""Batch enqueue (``job.map``, ``queue.enqueue_many``) and ``JobHandle.status()`` on every store, memory:// too."""

from __future__ import annotations

import pytest

from taskgraph import SerializationError
from taskgraph.durable import batch
from tests import jobs
from tests.durable_app import make_queue
from tests.test_durable import burst


@pytest.fixture
def q(in_process_store_url):
    queue = make_queue(in_process_store_url)
    yield queue
    queue.close()


def stored(queue) -> int:
    return sum(sum(counts.values()) for counts in queue.stats().values())


def test_map_stores_every_run_in_batches_and_the_runs_give_their_results(q, monkeypatch) -> None:
    add = q.job("tests.jobs:add")
    calls: list[int] = []
    enqueue_ids = type(q.store).enqueue_ids

    def counted(store, new):
        calls.append(len(new))
        return enqueue_ids(store, new)

    monkeypatch.setattr(type(q.store), "enqueue_ids", counted)
    handles = add.map([(i, i) for i in range(2500)])
    assert calls == [1000, 1000, 500]  # one store call per batch of 1,000
    assert len(handles) == 2500 == stored(q) and len({h.id for h in handles}) == 2500
    assert handles[0].record().payload == q.serializer.encode_call(add.name, (0, 0), {})
    mixed = add.map([(1, 2), [3, 4], {"a": 5, "b": 6}, (7,) + (8,)])
    burst(q, timeout=120)
    assert [h.join(10) for h in mixed] == [3, 7, 11, 15]
    assert handles[2499].join(10) == 4998


def test_map_takes_the_options_of_enqueue_for_every_run(q) -> None:
    add = q.job("tests.jobs:add")
    handles = add.map([(1, 1), (2, 2)], priority=5, queue="batch", metadata={"lot": 3}, delay=3600)
    for handle in handles:
        record = handle.record()
        assert (record.priority, record.queue, record.metadata) == (5, "batch", {"lot": 3})
        assert handle.status() == "SCHEDULED" and not handle
    with pytest.raises(ValueError, match=r"priority must be a whole number .* not 'high' \(job tests.jobs:add\)"):
        add.map([(1, 1)], priority="high")
    assert stored(q) == 2


def test_one_bad_item_refuses_the_whole_map_and_nothing_is_stored(q) -> None:
    add = q.job("tests.jobs:add")
    with pytest.raises(TypeError, match=r"^item 2: job tests.jobs:add: missing a required argument: 'b'$"):
        add.map([(1, 2), (3, 4), (5,)])
    with pytest.raises(TypeError, match=r"^job tests.jobs:add: item 1 of map\(\) must be a tuple of positional "
                                        r"arguments or a dict of keyword arguments, not int \(7\); wrap a single "
                                        r"argument as \(value,\)$"):
        add.map([(1, 2), 7])
    with pytest.raises(TypeError, match=r"map\(\) takes an iterable of items .* not str"):
        add.map("12")
    with pytest.raises(SerializationError, match="argument 0"):
        add.map([(1, 2)] * 1500 + [(object(), 1)])  # the last item of the second batch: the first is not stored
    assert stored(q) == 0


def test_an_on_enqueue_hook_that_refuses_one_run_refuses_the_batch(q) -> None:
    add = q.job("tests.jobs:add")

    class Refuse:
        def on_enqueue(self, job) -> None:
            if job.payload == q.serializer.encode_call(add.name, (13, 13), {}):
                raise PermissionError("13 is refused")

    q.add_hook(Refuse())
    with pytest.raises(PermissionError, match="13 is refused"):
        add.map([(i, i) for i in range(20)])
    assert stored(q) == 0
    assert len(add.map([(1, 1)])) == 1 == stored(q)


def test_enqueue_many_takes_runs_of_several_jobs(q) -> None:
    add, square = q.job("tests.jobs:add"), q.task(jobs.square)
    handles = q.enqueue_many([(add, (1, 2)), (square, (4,)), (add, (), {"a": 2, "b": 2})])
    assert [h.record().name for h in handles] == ["tests.jobs:add", "tests.jobs:square", "tests.jobs:add"]
    burst(q)
    assert [h.join(10) for h in handles] == [3, 16, 4]


def test_enqueue_many_refuses_a_bad_item_before_storing_any(q) -> None:
    add = q.job("tests.jobs:add")
    with pytest.raises(TypeError, match=r"^item 1 of enqueue_many\(\) must be a tuple \(job, args\) or \(job, args, "
                                        r"kwargs\), not \[1, 2\]$"):
        q.enqueue_many([(add, (1, 2)), [1, 2]])
    with pytest.raises(TypeError, match=r"^item 0 of enqueue_many\(\): <function square .*> is not a job of "):
        q.enqueue_many([(jobs.square, (1,))])
    with pytest.raises(TypeError, match=r"^item 1: job tests.jobs:add: too many positional arguments$"):
        q.enqueue_many([(add, (1, 2)), (add, (1, 2, 3))])
    assert stored(q) == 0


def test_a_batch_of_a_caching_job_looks_for_equal_runs_one_at_a_time(q) -> None:
    square = q.task(jobs.square, cache=True)
    first, twin, other = square.map([(3,), (3,), (4,)])
    assert first == twin and first != other  # the equal run shares the first's job
    assert stored(q) == 2


def test_an_unencodable_run_of_a_caching_job_refuses_the_whole_batch(q) -> None:
    add, square = q.job("tests.jobs:add"), q.task(jobs.square, cache=True)
    with pytest.raises(SerializationError, match="argument 0"):
        q.enqueue_many([(add, (1, 2)), (square, (object(),))])
    assert stored(q) == 0


def test_status_reads_the_status_and_says_scheduled_for_a_delayed_job(q) -> None:
    add = q.job("tests.jobs:add")
    now, later = add.delay(1, 1), add.enqueue((1, 1), delay=3600)
    assert (now.status(), later.status()) == ("QUEUED", "SCHEDULED")
    assert not now and not later
    later.cancel()  # (a burst worker would wait for it)
    assert later.status() == "CANCELLED" and later
    burst(q)
    assert now.status() == "DONE" and now
    with pytest.raises(KeyError, match="is not in"):
        type(now)(q, "never-enqueued").status()


def test_the_batch_size_is_a_thousand() -> None:
    assert batch.BATCH == 1000
