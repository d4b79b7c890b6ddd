"""The SQL of the PostgreSQL store: its schema and every statement, kept apart from the Python that runs them.

``{s}`` stands for the quoted schema name, ``{now}`` for the server's clock, and a few more names in braces for the
pieces in ``_PIECES``; :func:`render` fills them in, once per store. Statement names start with ``_Q_``.
"""

from __future__ import annotations

from .records import FIELDS, ON_TEXT

_COLS = ", ".join(FIELDS)
_LIGHT_COLS = _COLS.replace("payload", "''::bytea").replace("result,", "NULL::bytea,")

#: The version of the tables this code writes; a store whose ``taskgraph_meta`` says more is refused.
SCHEMA_VERSION = 1

# Indexes added after schema 1 was released: made by the DDL below in a new store, and at the first open of an older
# one that lacks them (see Session._migrate). jobs_status: the jobs of a status newest first (lists, and a burst
# worker's end check) without reading the finished ones.
_LATER_INDEXES = ["CREATE INDEX IF NOT EXISTS jobs_status ON {s}.jobs (status, seq)"]
MISSING_INDEXES = (
    "SELECT count(*) FROM unnest(%s::text[]) AS i(name) WHERE to_regclass(%s::text || '.' || i.name) IS NULL"
)
LATER_INDEX_NAMES = ["jobs_status"]

_DDL = [
    "CREATE SCHEMA IF NOT EXISTS {s}",
    "CREATE TABLE IF NOT EXISTS {s}.taskgraph_meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE IF NOT EXISTS {s}.jobs (
        seq bigserial PRIMARY KEY,
        id text NOT NULL CONSTRAINT jobs_id_unique UNIQUE,
        key text CONSTRAINT jobs_key_unique UNIQUE,
        name text NOT NULL,
        queue text NOT NULL,
        status text NOT NULL,
        priority bigint NOT NULL DEFAULT 0,
        payload bytea NOT NULL,
        options text NOT NULL,
        result bytea,
        error text,
        attempts integer NOT NULL DEFAULT 0,
        lease_losses integer NOT NULL DEFAULT 0,
        waiting integer NOT NULL DEFAULT 0,
        not_before float8 NOT NULL,
        created float8 NOT NULL,
        started float8,
        finished float8,
        worker text,
        lease_expires float8,
        progress float8,
        progress_message text
    ) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
            autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000)""",
    "CREATE INDEX IF NOT EXISTS jobs_ready ON {s}.jobs (queue, priority DESC, not_before, seq) "
    "WHERE status = 'QUEUED'",
    # These two have predicates no other query implies, so that the planner never prefers them where it should not:
    # claims walk jobs_ready in claim order, completions find their rows by id. (Only QUEUED jobs have waiting = 0
    # and only RUNNING ones a lease.)
    "CREATE INDEX IF NOT EXISTS jobs_due ON {s}.jobs (queue, not_before) WHERE status = 'QUEUED' AND waiting = 0",
    "CREATE INDEX IF NOT EXISTS jobs_leases ON {s}.jobs (lease_expires) WHERE lease_expires IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS jobs_finished ON {s}.jobs (finished) WHERE finished IS NOT NULL",
    *_LATER_INDEXES,
    """CREATE TABLE IF NOT EXISTS {s}.edges (
        prereq text NOT NULL, dependent text NOT NULL, PRIMARY KEY (prereq, dependent)
    )""",
    "CREATE INDEX IF NOT EXISTS edges_dependent ON {s}.edges (dependent)",
    """CREATE TABLE IF NOT EXISTS {s}.events (
        seq bigserial, job text NOT NULL, at float8 NOT NULL, event text NOT NULL, source text, dest text NOT NULL,
        worker text, detail text
    )""",
    "CREATE INDEX IF NOT EXISTS events_job ON {s}.events (job, seq)",
    f"INSERT INTO {{s}}.taskgraph_meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}') "
    "ON CONFLICT (key) DO NOTHING",
]

# Every value is a parameter. A statement that changes statuses names the rows it changed ``moved`` and ends with
# one of the notification pieces below, in the same transaction as the change.

_PIECES = {
    # notify the changes channel once if anything moved
    "{note_changes}": (
        "note AS (SELECT count(pg_notify(%(changes)s::text, '')) AS n FROM (SELECT 1 FROM moved LIMIT 1) x)"
    ),
    # the same, and the work channel once per queue of the jobs that moved to QUEUED
    "{note_ready}": """note AS (
    SELECT count(pg_notify(y.c, y.p)) AS n FROM (
        SELECT DISTINCT %(work)s::text AS c, queue AS p FROM moved WHERE status = 'QUEUED'
        UNION SELECT %(changes)s::text, '' FROM (SELECT 1 FROM moved LIMIT 1) x) y
)""",
    # insert the jobs of an enqueue
    "{insert_jobs}": """INSERT INTO {s}.jobs (id, key, name, queue, status, priority, payload, options, error, waiting,
        not_before, created, finished)
    SELECT u.id, u.key, u.name, u.queue, u.status, u.priority, u.payload, u.options, u.error, u.waiting,
        greatest({now} + u.delay, u.nb), {now}, CASE WHEN u.final THEN {now} END
    FROM {job_arrays}
    ORDER BY u.ord""",
    # the jobs of an enqueue as a table u, in order (see taskgraph.stores.common.columns)
    "{job_arrays}": (
        "unnest(%(id)b::text[], %(key)b::text[], %(name)b::text[], %(queue)b::text[], %(status)b::text[], "
        "%(priority)b::bigint[], %(payload)b::bytea[], %(options)b::text[], %(error)b::text[], %(waiting)b::int[], "
        "%(delay)b::float8[], %(nb)b::float8[], %(final)b::bool[]) WITH ORDINALITY "
        "AS u(id, key, name, queue, status, priority, payload, options, error, waiting, delay, nb, final, ord)"
    ),
    "{cols}": _COLS,
    "{on_failure_len}": str(len(ON_TEXT["failure"])),
    "{on_failure}": ON_TEXT["failure"].replace("'", "''"),
    "{on_any_len}": str(len(ON_TEXT["any"])),
    "{on_any}": ON_TEXT["any"].replace("'", "''"),
    "{cols_j}": ", ".join(f"j.{c}" for c in FIELDS),
    # the server's clock, in epoch seconds, fixed for the duration of one statement
    "{now}": "extract(epoch FROM statement_timestamp())::float8",
}


def render(text: str, schema: str) -> str:
    """``text`` with its pieces, in order, and ``schema`` (quoted) for ``{s}``."""
    for name, piece in _PIECES.items():
        text = text.replace(name, piece)
    return text.replace("{s}", schema)


def statements(schema: str) -> dict[str, str]:
    """Every statement by name (``_Q_...``), for the quoted ``schema``."""
    return {name: render(text, schema) for name, text in globals().items() if name.startswith("_Q_")}


_Q_VERSION = "SELECT value FROM {s}.taskgraph_meta WHERE key = 'schema'"

_Q_TABLES = (
    "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = ANY(%s::text[])"
)

# Take back expired leases: QUEUED again, with their events and notifications; those out of chances are only
# reported (doomed), and failed right after with their descendants. The scans run only when the earliest lease has
# expired: min() over jobs_leases is a plain index scan that stops at the first live entry and marks the entries of
# dead row versions (completed jobs' old RUNNING versions) dead on its way, where a scan of the whole expired range
# would visit them all again at every claim until VACUUM.
_Q_RECOVER = """
WITH lapsed AS (
    SELECT min(lease_expires) < {now} AS found FROM {s}.jobs WHERE lease_expires IS NOT NULL
), moved AS (
    UPDATE {s}.jobs j SET status = 'QUEUED', lease_losses = j.lease_losses + 1, worker = NULL,
        lease_expires = NULL
    FROM (SELECT seq, worker FROM {s}.jobs
          WHERE (SELECT found FROM lapsed) AND lease_expires < {now} AND status = 'RUNNING'
            AND lease_losses + 1 < %(max)s::int
          FOR UPDATE SKIP LOCKED) x
    WHERE j.seq = x.seq
    RETURNING j.id, j.queue, j.status, x.worker AS owner
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'requeue', 'RUNNING', 'QUEUED', owner, 'lease of worker ' || owner || ' expired' FROM moved
), {note_ready}
SELECT array_agg(id), (SELECT n FROM note) FROM {s}.jobs
WHERE (SELECT found FROM lapsed) AND lease_expires < {now} AND status = 'RUNNING'
  AND lease_losses + 1 >= %(max)s::int
"""

# Claim. The inner select runs once per named queue, so that each walks its own index (jobs_ready) in claim order;
# the queues are taken in the order named: a later one's jobs only when the earlier ones have too few ready.
# A not_before that is not a time (infinite, NaN: damaged) is claimed at once, for the worker to refuse the job,
# rather than left QUEUED for ever.
# With gate, when a lease has expired (the same probe as above) it claims nothing and answers so: the store then
# takes the leases back and claims in one transaction, as if the recovery had come first, which it would otherwise
# be a no-op. So the common claim is one statement, and none claims around a job it should take back.
_Q_CLAIM = """
WITH lapsed AS (
    SELECT coalesce(min(lease_expires) < {now}, false) AS found FROM {s}.jobs WHERE lease_expires IS NOT NULL
), moved AS (
    UPDATE {s}.jobs j SET status = 'RUNNING', worker = %(worker)s::text, attempts = j.attempts + 1,
        started = {now}, lease_expires = {now} + %(lease)s::float8
    WHERE j.seq IN (
        SELECT c.seq FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q(name, ord)
        CROSS JOIN LATERAL (
            SELECT seq, priority, not_before, q.ord FROM {s}.jobs
            WHERE NOT (%(gate)s::bool AND (SELECT found FROM lapsed))
              AND status = 'QUEUED' AND queue = q.name
              AND (not_before <= {now} OR not_before >= 'Infinity'::float8)  -- NaN too: claimed, and refused
            ORDER BY priority DESC, not_before, seq LIMIT %(limit)s::int FOR UPDATE SKIP LOCKED) c
        ORDER BY c.ord, c.priority DESC, c.not_before, c.seq LIMIT %(limit)s::int)
    RETURNING {cols_j}, j.seq
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'dispatch', 'QUEUED', 'RUNNING', %(worker)s::text, NULL FROM moved
), {note_changes}
SELECT g.*, l.found, (SELECT n FROM note) FROM lapsed l LEFT JOIN moved g ON true
ORDER BY array_position(%(queues)s::text[], g.queue), g.priority DESC, g.not_before, g.seq
"""

_Q_FAIL_LOST = """
WITH x AS (
    SELECT seq, worker, lease_losses FROM {s}.jobs
    WHERE id = ANY(%(ids)s::text[]) AND status = 'RUNNING' AND lease_expires < {now}
      AND lease_losses + 1 >= %(max)s::int
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE {s}.jobs j SET status = 'FAILED', lease_losses = j.lease_losses + 1, finished = {now},
        lease_expires = NULL,
        error = json_build_object(
            'type', 'taskgraph.errors.TaskError',
            'message', 'its worker was lost ' || (x.lease_losses + 1) || ' times while running it (lease expired); '
                       || 'it may be killing its worker',
            'traceback', '')::text
    FROM x WHERE j.seq = x.seq
    RETURNING j.id, x.worker AS owner
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'fail', 'RUNNING', 'FAILED', owner, 'lease of worker ' || owner || ' expired' FROM moved
), {note_changes}
SELECT id, (SELECT n FROM note) FROM moved
"""

_Q_HEARTBEAT = """
UPDATE {s}.jobs SET lease_expires = {now} + %(lease)s::float8
WHERE id = ANY(%(ids)s::text[]) AND status = 'RUNNING' AND worker = %(worker)s::text
RETURNING id
"""

_Q_COMPLETE = """
WITH r AS (
    SELECT * FROM unnest(%(ids)s::text[], %(results)s::bytea[]) AS r(id, result)
), moved AS (
    UPDATE {s}.jobs j SET status = 'DONE', result = r.result, finished = {now}, lease_expires = NULL, progress = 1.0
    FROM r WHERE j.id = ANY(%(ids)s::text[]) AND j.id = r.id AND j.status = 'RUNNING' AND j.worker = %(worker)s::text
    RETURNING j.id
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'done', 'RUNNING', 'DONE', %(worker)s::text, NULL FROM moved
), {note_changes}, mark AS (
    SELECT set_config('taskgraph.completed', array_agg(id)::text, true) AS v FROM moved
)
SELECT d.id, (SELECT n FROM note), (SELECT v FROM mark) IS NULL FROM moved d
"""

# Runs after _Q_COMPLETE in the same transaction, which left the ids it made DONE in the transaction-local setting
# taskgraph.completed. A statement of its own, so that its snapshot sees every edge committed while the completed
# rows were being locked. It starts from the edges of those ids: without edges it costs an index probe per id.
_Q_RELEASE = """
WITH d AS (
    SELECT dependent, count(*)::int AS n FROM {s}.edges
    WHERE prereq = ANY(coalesce(nullif(current_setting('taskgraph.completed', true), ''), '{}')::text[])
    GROUP BY dependent
), rel AS (
    UPDATE {s}.jobs j SET waiting = j.waiting - d.n,
        status = CASE WHEN left(j.options, {on_failure_len}) = '{on_failure}' THEN 'CANCELLED'
                      WHEN j.waiting - d.n <= 0 THEN 'QUEUED' ELSE 'PENDING' END,
        finished = CASE WHEN left(j.options, {on_failure_len}) = '{on_failure}' THEN {now} ELSE j.finished END,
        not_before = CASE WHEN j.waiting - d.n <= 0 THEN greatest(j.not_before, {now}) ELSE j.not_before END
    FROM d WHERE j.id = d.dependent AND j.status = 'PENDING'
    RETURNING j.id, j.queue, j.status
), moved AS (
    SELECT * FROM rel WHERE status IN ('QUEUED', 'CANCELLED')
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT m.id, {now}, CASE WHEN m.status = 'QUEUED' THEN 'release' ELSE 'cancel' END, 'PENDING', m.status,
        %(worker)s::text,
        CASE WHEN m.status = 'CANCELLED' THEN (
            SELECT 'prerequisite ''' || regexp_replace(coalesce(p.key, p.name), '@[0-9a-f]{10}$', '') || ''' is DONE'
            FROM {s}.edges e
            JOIN {s}.jobs p ON p.id = e.prereq WHERE e.dependent = m.id LIMIT 1) END
    FROM moved m
), {note_ready}
SELECT (SELECT n FROM note), (SELECT array_agg(id) FROM moved WHERE status = 'CANCELLED')
"""

# The PENDING continuations a cascade queues instead of failing or cancelling them (they run on that end).
_Q_CASCADE_RELEASE = """
WITH u AS (
    SELECT * FROM unnest(%(ids)s::text[], %(details)s::text[]) WITH ORDINALITY AS u(id, detail, ord)
), moved AS (
    UPDATE {s}.jobs j SET status = 'QUEUED', waiting = 0, not_before = greatest(j.not_before, {now})
    FROM u WHERE j.id = ANY(%(ids)s::text[]) AND j.id = u.id AND j.status = 'PENDING'
    RETURNING j.id, j.queue, j.status
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT u.id, {now}, 'release', 'PENDING', 'QUEUED', NULL, u.detail FROM u JOIN moved m ON m.id = u.id
    ORDER BY u.ord
), {note_ready}
SELECT (SELECT n FROM note)
"""

_Q_RETRY = """
WITH moved AS (
    UPDATE {s}.jobs SET status = 'QUEUED', error = %(error)s::text, not_before = {now} + %(retry)s::float8,
        worker = NULL, lease_expires = NULL
    WHERE id = %(id)s::text AND status = 'RUNNING' AND worker = %(worker)s::text
    RETURNING id, queue, status
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'retry', 'RUNNING', 'QUEUED', %(worker)s::text, %(detail)s::text FROM moved
), {note_ready}
SELECT id, (SELECT n FROM note) FROM moved
"""

_Q_FAIL = """
WITH moved AS (
    UPDATE {s}.jobs SET status = 'FAILED', error = %(error)s::text, finished = {now}, lease_expires = NULL
    WHERE id = %(id)s::text AND status = 'RUNNING' AND worker = %(worker)s::text
    RETURNING id
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'fail', 'RUNNING', 'FAILED', %(worker)s::text, %(detail)s::text FROM moved
), {note_changes}
SELECT id, (SELECT n FROM note) FROM moved
"""

# One level of a cascade: the PENDING dependents of parents that are FAILED (or CANCELLED), with the labels the
# error and the event name them by.
_Q_CASCADE_FIND = """
SELECT e.dependent, coalesce(d.key, d.name), coalesce(p.key, p.name), p.status, left(d.options, 20)
FROM {s}.edges e JOIN {s}.jobs d ON d.id = e.dependent JOIN {s}.jobs p ON p.id = e.prereq
WHERE e.prereq = ANY(%(ids)s::text[]) AND d.status = 'PENDING' AND p.status = %(state)s::text
ORDER BY array_position(%(ids)s::text[], e.prereq), d.seq
"""

_Q_CASCADE_MOVE = """
WITH u AS (
    SELECT * FROM unnest(%(ids)s::text[], %(errors)s::text[], %(details)s::text[]) WITH ORDINALITY
        AS u(id, error, detail, ord)
), moved AS (
    UPDATE {s}.jobs j SET status = %(state)s::text, error = u.error, finished = {now}
    FROM u WHERE j.id = ANY(%(ids)s::text[]) AND j.id = u.id AND j.status = 'PENDING'
    RETURNING j.id
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT u.id, {now}, %(event)s::text, 'PENDING', %(state)s::text, NULL, u.detail
    FROM u JOIN moved m ON m.id = u.id ORDER BY u.ord
), {note_changes}
SELECT m.id, (SELECT n FROM note) FROM moved m
"""

_Q_RELEASE_HELD = """
WITH moved AS (
    UPDATE {s}.jobs SET status = 'QUEUED', attempts = greatest(attempts - 1, 0), worker = NULL, lease_expires = NULL
    WHERE id = ANY(%(ids)s::text[]) AND status = 'RUNNING' AND worker = %(worker)s::text
    RETURNING id, queue, status
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'requeue', 'RUNNING', 'QUEUED', %(worker)s::text, 'handed back' FROM moved
), {note_ready}
SELECT id, (SELECT n FROM note) FROM moved
"""

_Q_CANCEL = """
WITH o AS (
    SELECT seq, status FROM {s}.jobs WHERE id = %(id)s::text AND status IN ('PENDING', 'QUEUED', 'RUNNING')
    FOR UPDATE
), moved AS (
    UPDATE {s}.jobs j SET status = 'CANCELLED', finished = {now}, lease_expires = NULL
    FROM o WHERE j.seq = o.seq
    RETURNING j.id, o.status AS old
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'cancel', old, 'CANCELLED', NULL, NULL FROM moved
), {note_changes}
SELECT id, (SELECT n FROM note) FROM moved
"""

# retry(ids): lock the jobs to retry, then their prerequisites (FOR SHARE, as an enqueue does, so none of them
# becomes DONE unseen while the count is taken), then move them in a statement of its own, whose snapshot sees
# every prerequisite as it is once locked.
_Q_RETRY_BY_HAND_LOCK = """
SELECT seq FROM {s}.jobs WHERE id = ANY(%(ids)s::text[]) AND status = ANY(%(again)s::text[]) ORDER BY id FOR UPDATE
"""

_Q_RETRY_BY_HAND_PREREQS = """
SELECT p.seq FROM {s}.jobs p
WHERE p.id IN (SELECT e.prereq FROM {s}.edges e JOIN {s}.jobs d ON d.id = e.dependent
               WHERE e.dependent = ANY(%(ids)s::text[]) AND d.status = ANY(%(again)s::text[]))
ORDER BY p.id FOR SHARE
"""

_Q_RETRY_BY_HAND = """
WITH t AS (
    SELECT j.seq, j.status AS old,
        (SELECT count(*) FROM {s}.edges e JOIN {s}.jobs p ON p.id = e.prereq
         WHERE e.dependent = j.id AND p.status <> 'DONE'
           -- a continuation waits for its prerequisite to end, however: retried by hand, it runs then
           AND NOT (p.status IN ('FAILED', 'CANCELLED') AND (left(j.options, {on_failure_len}) = '{on_failure}'
                                                           OR left(j.options, {on_any_len}) = '{on_any}')))::int
        AS waiting
    FROM {s}.jobs j WHERE j.id = ANY(%(ids)s::text[]) AND j.status = ANY(%(again)s::text[])
), moved AS (
    UPDATE {s}.jobs j SET status = CASE WHEN t.waiting > 0 THEN 'PENDING' ELSE 'QUEUED' END, result = NULL,
        error = NULL, attempts = 0, lease_losses = 0, waiting = t.waiting, not_before = {now}, started = NULL,
        finished = NULL, worker = NULL, lease_expires = NULL, progress = NULL, progress_message = NULL
    FROM t WHERE j.seq = t.seq
    RETURNING j.id, j.seq, j.queue, j.status, t.old
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'retry', old, status, NULL,
        CASE WHEN old = 'DONE' THEN 'run again by hand' ELSE 'retried by hand' END FROM moved ORDER BY seq
), {note_ready}
SELECT id, (SELECT n FROM note) FROM moved
"""

_Q_PROGRESS = """
WITH moved AS (
    UPDATE {s}.jobs SET progress = %(value)s::float8, progress_message = %(message)s::text
    WHERE id = %(id)s::text AND status = 'RUNNING' AND worker = %(worker)s::text
    RETURNING id
), {note_changes}
SELECT id, (SELECT n FROM note) FROM moved
"""

# what goes with finished jobs deleted in a CTE named gone (purge, delete): their events and edges
_GONE_WITH = """, ev AS (
    DELETE FROM {s}.events WHERE job IN (SELECT id FROM gone)
), up AS (
    DELETE FROM {s}.edges WHERE prereq IN (SELECT id FROM gone)
), down AS (
    DELETE FROM {s}.edges WHERE dependent IN (SELECT id FROM gone)
)
"""

_Q_PURGE = """
WITH gone AS (
    DELETE FROM {s}.jobs
    WHERE status IN ('DONE', 'FAILED', 'CANCELLED') AND finished < {now} - %(older)s::float8
    RETURNING id
)""" + _GONE_WITH + """SELECT count(*) FROM gone
"""

_Q_DELETE = """
WITH gone AS (
    DELETE FROM {s}.jobs WHERE id = ANY(%(ids)s::text[]) AND status IN ('DONE', 'FAILED', 'CANCELLED')
    RETURNING id
)""" + _GONE_WITH + """SELECT id FROM gone
"""

# live workers: a table made on first use, so that a schema made before workers registered needs no new version
_Q_WORKERS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {s}.workers (id text PRIMARY KEY, info text NOT NULL, expires float8 NOT NULL)"
)
_Q_WORKER_PRUNE = "DELETE FROM {s}.workers WHERE expires < {now}"
_Q_WORKER_PUT = """
INSERT INTO {s}.workers (id, info, expires) VALUES (%(id)s::text, %(info)s::text, %(expires)s::float8)
ON CONFLICT (id) DO UPDATE SET info = excluded.info, expires = excluded.expires
"""
_Q_WORKER_DROP = "DELETE FROM {s}.workers WHERE id = %(id)s::text RETURNING expires >= {now}"
_Q_WORKERS = "SELECT info FROM {s}.workers WHERE expires >= {now}"
_Q_NOW = "SELECT {now}"

# enqueue: look (and lock) before writing
_Q_KEYS = "SELECT id, key, status FROM {s}.jobs WHERE key = ANY(%(keys)s::text[]) ORDER BY id FOR UPDATE"
_Q_PREREQS = (
    "SELECT id, coalesce(key, name), status FROM {s}.jobs WHERE id = ANY(%(ids)s::text[]) ORDER BY id FOR SHARE"
)
_Q_INSERT = "{insert_jobs}"
# An enqueue with no keys and no prerequisites: one statement; an id the store already has is left as it is.
_Q_INSERT_NEW = """
WITH moved AS (
    {insert_jobs}
    ON CONFLICT (id) DO NOTHING
    RETURNING id, queue, status
), ev AS (
    INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
    SELECT id, {now}, 'queue', NULL, status, NULL, NULL FROM moved
), {note_ready}
SELECT (SELECT n FROM note)
"""
_Q_RESET = """
UPDATE {s}.jobs j SET status = u.status, name = u.name, queue = u.queue, priority = u.priority,
    payload = u.payload, options = u.options, result = NULL, error = u.error, attempts = 0, lease_losses = 0,
    waiting = u.waiting, not_before = greatest({now} + u.delay, u.nb), started = NULL,
    finished = CASE WHEN u.final THEN {now} END, worker = NULL, lease_expires = NULL, progress = NULL,
    progress_message = NULL
FROM {job_arrays}
WHERE j.id = ANY(%(id)b::text[]) AND j.id = u.id
"""
_Q_DROP_EDGES = "DELETE FROM {s}.edges WHERE dependent = ANY(%(ids)s::text[])"
_Q_ADD_EDGES = """
INSERT INTO {s}.edges (prereq, dependent)
SELECT * FROM unnest(%(prereqs)s::text[], %(dependents)s::text[]) ON CONFLICT DO NOTHING
"""
_Q_EVENTS = """
INSERT INTO {s}.events (job, at, event, source, dest, worker, detail)
SELECT u.job, {now}, u.event, u.source, u.dest, NULL, u.detail
FROM unnest(%(job)s::text[], %(event)s::text[], %(source)s::text[], %(dest)s::text[], %(detail)s::text[])
    WITH ORDINALITY AS u(job, event, source, dest, detail, ord)
ORDER BY u.ord
"""
_Q_NOTIFY = "SELECT count(pg_notify(c, p)) FROM unnest(%(c)s::text[], %(p)s::text[]) AS n(c, p)"

# reading
_Q_GET = "SELECT {cols} FROM {s}.jobs WHERE id = ANY(%(ids)s::text[])"
_Q_STATUS = "SELECT id, status, not_before FROM {s}.jobs WHERE id = ANY(%(ids)s::text[])"
_Q_STATS = "SELECT queue, status, count(*) FROM {s}.jobs GROUP BY queue, status"
# one job of some queues not finished, found through jobs_status whatever the number of finished jobs
_Q_ANY_UNFINISHED = (
    "SELECT EXISTS (SELECT 1 FROM {s}.jobs WHERE status IN ('PENDING', 'QUEUED', 'RUNNING') "
    "AND queue = ANY(%(queues)s::text[]))"
)
_Q_MATCH_IDS = "SELECT id FROM {s}.jobs WHERE starts_with(id, %(prefix)s::text) ORDER BY id LIMIT %(limit)s::int8"
_Q_SCHEDULED = """
SELECT queue, count(*) FROM {s}.jobs
WHERE status = 'QUEUED' AND not_before > {now} AND not_before < 'Infinity'::float8 GROUP BY queue
"""
_Q_HISTORY = "SELECT at, event, source, dest, worker, detail FROM {s}.events WHERE job = %(id)s::text ORDER BY seq"
# When the next delayed job of some queues comes due and when the next lease expires, in seconds from now.
_Q_DUE = """
SELECT (SELECT min(x.t) FROM unnest(%(queues)s::text[]) AS q(name)
        CROSS JOIN LATERAL (SELECT not_before AS t FROM {s}.jobs
                            WHERE status = 'QUEUED' AND waiting = 0 AND queue = q.name
                            ORDER BY not_before LIMIT 1) x) - {now},
       (SELECT min(lease_expires) FROM {s}.jobs WHERE lease_expires IS NOT NULL) - {now}
"""
