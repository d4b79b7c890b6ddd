"""The Lua scripts of the Redis store: each change to the store is one of them, so it is atomic.

Every script starts with ``_PRELUDE`` (shared helpers: the server's clock, key names, events, notifications, the
moves a job makes between statuses); :class:`RedisStore` registers each once per store object.
"""

from __future__ import annotations

from .records import FIELDS, ON_TEXT

#: The fields of a record, with payload and result read from a field that never exists (for list()).
_LIGHT_FIELDS = tuple("-" if f in ("payload", "result") else f for f in FIELDS)

_PRELUDE = r"""
local P = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) + tonumber(T[2]) / 1000000
local NOW_S = T[1] .. '.' .. string.format('%06d', tonumber(T[2]))
local NULL = cjson.null
local FIELDS = {__FIELDS__}
local WAKE_MAX = 16
local ON_FAILURE, ON_ANY = __ON_FAILURE__, __ON_ANY__
local counts, wakes, changed = {}, {}, false

local function fmt(x) return string.format('%.6f', x) end
local function jkey(id) return P .. ':job:' .. id end
local function record(id) return redis.call('HMGET', jkey(id), unpack(FIELDS)) end
local function push(t, ...) for _, v in ipairs({...}) do t[#t + 1] = v end end

local function count(queue, status, d)
  local f = status .. ':' .. queue
  counts[f] = (counts[f] or 0) + d
end

-- a status change, counted per queue and status (from_queue: where it was counted before, if it moved)
local function moved(queue, from, to, from_queue)
  if from then count(from_queue or queue, from, -1) end
  count(queue, to, 1)
  changed = true
end

local function event(id, name, source, dest, worker, detail)
  redis.call('RPUSH', P .. ':events:' .. id,
    cjson.encode({NOW_S, name, source or NULL, dest, worker or NULL, detail or NULL}))
end

-- the fields named of a job RUNNING under worker's lease (status and worker first), or nil
local function held(id, worker, ...)
  local r = redis.call('HMGET', jkey(id), 'status', 'worker', ...)
  if r[1] == 'RUNNING' and r[2] == worker then return r end
end

-- the ready-set member: priority key, not_before (µs) and sequence, fixed-width digits, then the id
local function rank(pk, nb, seq, id)
  -- a damaged priority key or sequence (written by hand) ranks as priority 0, first in line, never a script error
  if type(pk) ~= 'string' or not string.match(pk, '^%d+$') or #pk ~= 20 then pk = '09223372036854775807' end
  seq = tonumber(seq) or 0
  local us = math.floor(nb * 1000000 + 0.5)  -- to the nearest µs: a time read back from its text ranks the same
  if us < 0 then us = 0 elseif us > 9007199254740991 then us = 9007199254740991 end
  return pk .. string.format('%016.0f', us) .. string.format('%016.0f', seq) .. id
end

-- a job becomes QUEUED: into its queue's ready set, or the delayed set until nb; returns its ready member
local function place(id, queue, pk, seq, nb)
  local rk = rank(pk, nb, seq, id)
  if nb <= NOW then
    redis.call('ZADD', P .. ':ready:' .. queue, 0, rk)
  else
    redis.call('ZADD', P .. ':delayed', fmt(nb), id)
  end
  wakes[queue] = (wakes[queue] or 0) + 1
  return rk
end

-- a RUNNING job back to QUEUED, without worker or lease, with more fields; r: its status, worker, queue, pk, seq
-- and not_before; claimable from nb, or (nb nil) now at its old place in the queue
local function requeue(id, r, nb, ev, worker, detail, ...)
  local k = jkey(id)
  nb = nb or math.min(tonumber(r[6] or NOW_S) or NOW, NOW)
  redis.call('HSET', k, 'status', 'QUEUED', 'rk', place(id, r[3], r[4], r[5], nb), ...)
  redis.call('HDEL', k, 'worker', 'lease_expires')
  redis.call('ZREM', P .. ':running', id)
  moved(r[3], 'RUNNING', 'QUEUED')
  event(id, ev, 'RUNNING', 'QUEUED', worker, detail)
end

-- a job ends (DONE, FAILED or CANCELLED) now, with more fields: its lease gone, into the finished set
local function finish(id, queue, from, to, ev, worker, detail, ...)
  local k = jkey(id)
  redis.call('HSET', k, 'status', to, 'finished', NOW_S, ...)
  redis.call('HDEL', k, 'lease_expires')
  redis.call('ZREM', P .. ':running', id)
  redis.call('ZADD', P .. ':finished', NOW_S, id)
  moved(queue, from, to)
  event(id, ev, from, to, worker, detail)
end

-- what a job FAILED or CANCELLED loses when it is queued again
local function clear(id)
  redis.call('HDEL', jkey(id), 'result', 'error', 'started', 'finished', 'worker', 'lease_expires', 'progress',
    'progress_message', 'rk')
  redis.call('ZREM', P .. ':finished', id)
end

-- jobs are called by their label: the key if they have one, else the name (rlabel: its Python repr)
local function blocked_error(label, rlabel, plabel, prlabel, state)
  return cjson.encode({
    type = 'taskgraph.errors.BlockedError',
    message = 'task ' .. rlabel .. ' is blocked: prerequisite ' .. prlabel .. ' is ' .. state,
    args = {label, {{plabel, state}}},
    traceback = '',
  })
end

-- when a job whose options text is opts runs: 'failure', 'any' or 'success' (see records.runs_on)
local function runs_on(opts)
  if type(opts) ~= 'string' then return 'success' end
  if string.sub(opts, 1, #ON_FAILURE) == ON_FAILURE then return 'failure' end
  if string.sub(opts, 1, #ON_ANY) == ON_ANY then return 'any' end
  return 'success'
end

-- fail or cancel the PENDING descendants of a job that just FAILED or was CANCELLED; a continuation that runs on
-- that end is QUEUED instead
local function cascade(root, state)
  local todo, head = {root}, 1
  while head <= #todo do
    local node = todo[head]
    head = head + 1
    local deps = redis.call('SMEMBERS', P .. ':edges:' .. node)
    local parent = #deps > 0 and redis.call('HMGET', jkey(node), 'label', 'rlabel')
    for _, d in ipairs(deps) do
      local r = redis.call('HMGET', jkey(d), 'status', 'queue', 'label', 'rlabel', 'options', 'not_before', 'pk',
        'seq')
      local on = r[1] == 'PENDING' and runs_on(r[5])
      if on == 'any' or (on == 'failure' and state == 'FAILED') then
        local nb = math.max(tonumber(r[6]) or NOW, NOW)
        redis.call('HSET', jkey(d), 'status', 'QUEUED', 'waiting', '0', 'not_before', fmt(nb),
          'rk', place(d, r[2], r[7], r[8], nb))
        moved(r[2], 'PENDING', 'QUEUED')
        event(d, 'release', 'PENDING', 'QUEUED', nil, 'prerequisite ' .. parent[2] .. ' is ' .. state)
      elseif r[1] == 'PENDING' then
        local detail = 'prerequisite ' .. parent[2]
        if state == 'FAILED' then
          finish(d, r[2], 'PENDING', state, 'fail', nil, detail,
            'error', blocked_error(r[3], r[4], parent[1], parent[2], state))
        else
          redis.call('HDEL', jkey(d), 'error')
          finish(d, r[2], 'PENDING', state, 'cancel', nil, detail)
        end
        todo[#todo + 1] = d
      end
    end
  end
end

-- delete a job with its history and edges
local function drop(id)
  local r = redis.call('HMGET', jkey(id), 'status', 'queue', 'key')
  if r[1] then count(r[2], r[1], -1) end
  redis.call('DEL', jkey(id), P .. ':events:' .. id)
  for _, p in ipairs(redis.call('SMEMBERS', P .. ':after:' .. id)) do
    redis.call('SREM', P .. ':edges:' .. p, id)
  end
  for _, d in ipairs(redis.call('SMEMBERS', P .. ':edges:' .. id)) do
    redis.call('SREM', P .. ':after:' .. d, id)
  end
  redis.call('DEL', P .. ':after:' .. id, P .. ':edges:' .. id)
  if r[3] and redis.call('HGET', P .. ':keys', r[3]) == id then redis.call('HDEL', P .. ':keys', r[3]) end
  redis.call('ZREM', P .. ':all', id)
  redis.call('ZREM', P .. ':finished', id)
end

-- counters, wake-ups and the change stream, once per script
local function flush()
  for f, d in pairs(counts) do
    if d ~= 0 and redis.call('HINCRBY', P .. ':counts', f, d) <= 0 then
      redis.call('HDEL', P .. ':counts', f)
    end
  end
  for q, n in pairs(wakes) do
    local k = P .. ':wake:' .. q
    local tokens = {}
    for i = 1, math.min(n, WAKE_MAX) do tokens[i] = '1' end
    redis.call('RPUSH', k, unpack(tokens))
    redis.call('LTRIM', k, -WAKE_MAX, -1)
    redis.call('EXPIRE', k, 600)
  end
  if changed then
    redis.call('XADD', P .. ':changes', 'MAXLEN', '~', '10000', '*', 'c', '1')
  end
end

-- step(x) for the ARGV from first on, by steps of by; then flush(), and return ARGV[x] of each step that acted
local function each(first, by, step)
  local out = {}
  for x = first, #ARGV, by do
    if step(x) then out[#out + 1] = ARGV[x] end
  end
  flush()
  return out
end
""".replace("__FIELDS__", ", ".join(f"'{f}'" for f in FIELDS)).replace(
    "__ON_FAILURE__", f"'{ON_TEXT['failure']}'").replace("__ON_ANY__", f"'{ON_TEXT['any']}'")

# ARGV: prefix, {"jobs": the jobs, "ids": true to answer ids rather than records} as JSON, then the jobs'
# payloads. Each job is an object of: id, name, label, repr(label) as rlabel, own label, repr(own label) as rown,
# queue, priority, priority key as pk, options, key if any, delay, not_before if any, after: the prerequisites,
# once each. (label: the key if not None, else the name, as the job is named when it blocks another; own label:
# key or name, as it is named when it is blocked at once)
# Returns {1, {record (or id), ...}} or {0, missing prerequisite id}. Nothing is written before every job is
# planned, so a missing prerequisite leaves the store as it was.
_ENQUEUE = r"""
local call = cjson.decode(ARGV[2])  -- job j's payload is ARGV[2 + j]
local jobs = call.jobs

-- plan: what each job does, as if the earlier ones of this call were already written
local sim, simkeys = {}, {}
local function look(id)  -- false for none
  if sim[id] == nil then
    local r = redis.call('HMGET', jkey(id), 'status', 'label', 'rlabel')
    sim[id] = r[1] and {status = r[1], label = r[2], rlabel = r[3]}
  end
  return sim[id]
end
local function check(after)
  local waiting = 0
  for _, p in ipairs(after) do
    local s = look(p)
    if not s then return nil, nil, p end
    if s.status == 'FAILED' or s.status == 'CANCELLED' then return waiting, s, nil end
    if s.status ~= 'DONE' then waiting = waiting + 1 end
  end
  return waiting, nil, nil
end

-- a plan without a job keeps its stored job as it is; one with a job writes it new (old: nil) or resets it
local plans = {}
for j, job in ipairs(jobs) do
  local id, old = job.id, nil
  if job.key then
    local existing = simkeys[job.key] or redis.call('HGET', P .. ':keys', job.key)
    local s = existing and look(existing)
    if s then id, old = existing, s.status end
  end
  if old and old ~= 'FAILED' and old ~= 'CANCELLED' then
    plans[j] = {id = id}
  elseif not old and look(id) then
    plans[j] = {id = id}  -- the same job enqueued again (a retried call): as it is
  elseif job.on then  -- a continuation: one prerequisite, and what it runs on
    local s = look(job.after[1])
    if not s then return {0, job.after[1]} end
    local dest, w = 'PENDING', 1
    if s.status == 'DONE' or s.status == 'FAILED' or s.status == 'CANCELLED' then
      w = 0
      dest = (job.on == 'any' or s.status == 'FAILED') and 'QUEUED' or 'CANCELLED'
    end
    plans[j] = {id = id, job = job, old = old, waiting = w, dest = dest}
    sim[id] = {status = dest, label = job.label, rlabel = job.rlabel}
    if job.key then simkeys[job.key] = id end
  else
    local w, b, missing = check(job.after)
    if missing then return {0, missing} end
    local dest = b and b.status or (w > 0 and 'PENDING' or 'QUEUED')
    plans[j] = {id = id, job = job, old = old, waiting = w, blocker = b, dest = dest}
    sim[id] = {status = dest, label = job.label, rlabel = job.rlabel}
    if job.key then simkeys[job.key] = id end
  end
end

-- write; the sequence numbers of the new jobs in one INCRBY, and the sorted sets they join in few ZADDs
local fresh = 0
for _, plan in ipairs(plans) do
  if plan.job and not plan.old then fresh = fresh + 1 end
end
local next_seq = fresh > 0 and redis.call('INCRBY', P .. ':seq', fresh) - fresh or 0
local adds = {}  -- sorted set -> {score, member, ...}
local function add(set, score, member)
  local t = adds[set]
  if not t then t = {}; adds[set] = t end
  t[#t + 1] = score
  t[#t + 1] = member
  if #t >= 1000 then redis.call('ZADD', set, unpack(t)); adds[set] = nil end
end
for j, plan in ipairs(plans) do
  local job, id = plan.job, plan.id
  if job then
    local k = jkey(id)
    local nb = math.max(NOW + tonumber(job.delay), tonumber(job.not_before or '0'))
    local seq, old_queue
    if plan.old then
      local r = redis.call('HMGET', k, 'seq', 'queue')
      seq, old_queue = r[1], r[2]
      for _, p in ipairs(redis.call('SMEMBERS', P .. ':after:' .. id)) do
        redis.call('SREM', P .. ':edges:' .. p, id)
      end
      redis.call('DEL', P .. ':after:' .. id)
      clear(id)
    else
      next_seq = next_seq + 1
      seq = next_seq
      add(P .. ':all', seq, id)
      if job.key then redis.call('HSET', P .. ':keys', job.key, id) end
    end
    for _, p in ipairs(job.after) do
      redis.call('SADD', P .. ':edges:' .. p, id)
      redis.call('SADD', P .. ':after:' .. id, p)
    end
    local f = {
      'status', plan.dest, 'name', job.name, 'label', job.label, 'rlabel', job.rlabel, 'queue', job.queue,
      'priority', job.priority, 'pk', job.pk, 'payload', ARGV[2 + j], 'options', job.options, 'attempts', '0',
      'lease_losses', '0', 'waiting', tostring(plan.waiting), 'not_before', fmt(nb),
    }
    if not plan.old then
      push(f, 'id', id, 'created', NOW_S, 'seq', tostring(seq))
      if job.key then push(f, 'key', job.key) end
    end
    if plan.blocker then
      local b = plan.blocker
      push(f, 'error', blocked_error(job.own, job.rown, b.label, b.rlabel, b.status), 'finished', NOW_S)
      redis.call('ZADD', P .. ':finished', NOW_S, id)
    elseif plan.dest == 'CANCELLED' then  -- a continuation whose prerequisite did not end its way
      push(f, 'finished', NOW_S)
      redis.call('ZADD', P .. ':finished', NOW_S, id)
    elseif plan.dest == 'QUEUED' and nb <= NOW then  -- place(), its ZADD batched
      local rk = rank(job.pk, nb, seq, id)
      add(P .. ':ready:' .. job.queue, 0, rk)
      wakes[job.queue] = (wakes[job.queue] or 0) + 1
      push(f, 'rk', rk)
    elseif plan.dest == 'QUEUED' then
      push(f, 'rk', place(id, job.queue, job.pk, seq, nb))
    end
    redis.call('HSET', k, unpack(f))
    if plan.old then
      event(id, 'retry', plan.old, plan.dest, nil, 'submitted again')
    else
      event(id, 'queue', nil, plan.dest)
    end
    moved(job.queue, plan.old, plan.dest, old_queue)
  end
end
for set, t in pairs(adds) do redis.call('ZADD', set, unpack(t)) end
flush()
local out = {}
if call.ids then
  for j, plan in ipairs(plans) do out[j] = plan.id end
else
  for j, plan in ipairs(plans) do out[j] = record(plan.id) end
end
return {1, out}
"""

# ARGV: prefix, worker, lease, limit, MAX_LEASE_LOSSES, number of queues, queues...
_CLAIM = r"""
local worker, lease, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local max_losses, nq = tonumber(ARGV[5]), tonumber(ARGV[6])

-- take back expired leases
local expired = redis.call('ZRANGEBYSCORE', P .. ':running', '-inf', '(' .. NOW_S, 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', P .. ':running', id)
  local r = redis.call('HMGET', jkey(id), 'status', 'worker', 'queue', 'pk', 'seq', 'not_before', 'lease_losses')
  if r[1] == 'RUNNING' then
    local losses = tostring((tonumber(r[7] or '0') or max_losses) + 1)  -- damaged: out of chances
    local detail = 'lease of worker ' .. (r[2] or 'None') .. ' expired'
    if tonumber(losses) >= max_losses then
      local err = cjson.encode({type = 'taskgraph.errors.TaskError', traceback = '',
        message = 'its worker was lost ' .. losses .. ' times while running it (lease expired); it may be killing '
          .. 'its worker'})
      finish(id, r[3], 'RUNNING', 'FAILED', 'fail', r[2], detail, 'error', err, 'lease_losses', losses)
      cascade(id, 'FAILED')
    else
      requeue(id, r, nil, 'requeue', r[2], detail, 'lease_losses', losses)  -- not_before kept: back to its place
    end
  end
end

-- delayed jobs whose time has come go to their ready sets
local due = redis.call('ZRANGEBYSCORE', P .. ':delayed', '-inf', NOW_S, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', P .. ':delayed', id)
  local r = redis.call('HMGET', jkey(id), 'status', 'queue', 'rk')
  if r[1] == 'QUEUED' and r[3] then redis.call('ZADD', P .. ':ready:' .. r[2], 0, r[3]) end
end

-- the first `limit` ready jobs of the queues, the queues in the order named (none for a limit of 0 or less):
-- {member, queue}
local ready = {}
for qi = 1, (limit > 0) and nq or 0 do
  local q = ARGV[6 + qi]
  if #ready >= limit then break end
  for _, m in ipairs(redis.call('ZRANGEBYLEX', P .. ':ready:' .. q, '-', '+', 'LIMIT', 0, limit - #ready)) do
    ready[#ready + 1] = {m, q}
  end
end

local exp_s = fmt(NOW + lease)
local out = {}
for x = 1, math.min(limit, #ready) do
  local m, q = ready[x][1], ready[x][2]
  redis.call('ZREM', P .. ':ready:' .. q, m)
  local id = string.sub(m, 53)
  local r = record(id)
  if r[3] == 'QUEUED' then
    local attempts = tostring((tonumber(r[11] or '0') or 0) + 1)
    -- its queue is the one whose set held it: a queue field changed by hand is put back, so counts stay true
    redis.call('HSET', jkey(id), 'status', 'RUNNING', 'worker', worker, 'attempts', attempts, 'started', NOW_S,
      'lease_expires', exp_s, 'queue', q)
    r[4] = q
    redis.call('ZADD', P .. ':running', exp_s, id)
    event(id, 'dispatch', 'QUEUED', 'RUNNING', worker, nil)
    moved(q, 'QUEUED', 'RUNNING')
    r[3], r[11], r[16], r[18], r[19] = 'RUNNING', attempts, NOW_S, worker, exp_s
    out[#out + 1] = r
  end
end
flush()
return out
"""

# ARGV: prefix, worker, lease, ids...
_HEARTBEAT = r"""
local worker, exp_s = ARGV[2], fmt(NOW + tonumber(ARGV[3]))
return each(4, 1, function(x)
  if not held(ARGV[x], worker) then return false end
  redis.call('HSET', jkey(ARGV[x]), 'lease_expires', exp_s)
  redis.call('ZADD', P .. ':running', exp_s, ARGV[x])
  return true
end)
"""

# ARGV: prefix, worker, id, result, id, result, ...
_COMPLETE = r"""
local worker = ARGV[2]
return each(3, 2, function(x)
  local id = ARGV[x]
  local r = held(id, worker, 'queue')
  if not r then return false end
  finish(id, r[3], 'RUNNING', 'DONE', 'done', worker, nil, 'result', ARGV[x + 1], 'progress', '1.0')
  local deps = redis.call('SMEMBERS', P .. ':edges:' .. id)
  local label = #deps > 0 and redis.call('HGET', jkey(id), 'rlabel')
  for _, d in ipairs(deps) do
    local dk = jkey(d)
    local dr = redis.call('HMGET', dk, 'status', 'queue', 'not_before', 'pk', 'seq', 'options')
    if dr[1] == 'PENDING' and runs_on(dr[6]) == 'failure' then  -- runs on failure only: CANCELLED, and below it
      finish(d, dr[2], 'PENDING', 'CANCELLED', 'cancel', worker, 'prerequisite ' .. (label or '?') .. ' is DONE')
      cascade(d, 'CANCELLED')
    elseif dr[1] == 'PENDING' and redis.call('HINCRBY', dk, 'waiting', -1) <= 0 then
      local nb = math.max(tonumber(dr[3]) or NOW, NOW)
      redis.call('HSET', dk, 'status', 'QUEUED', 'not_before', fmt(nb), 'rk', place(d, dr[2], dr[4], dr[5], nb))
      moved(dr[2], 'PENDING', 'QUEUED')
      event(d, 'release', 'PENDING', 'QUEUED', worker, nil)
    end
  end
  return true
end)
"""

# ARGV: prefix, worker, id, error (JSON), retry_in ('' for none), detail
_FAIL = r"""
local worker, id, err, retry, detail = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local r = held(id, worker, 'queue', 'pk', 'seq')
if not r then return 0 end
if retry ~= '' then
  local nb = NOW + tonumber(retry)
  requeue(id, r, nb, 'retry', worker, detail, 'error', err, 'not_before', fmt(nb))
else
  finish(id, r[3], 'RUNNING', 'FAILED', 'fail', worker, detail, 'error', err)
  cascade(id, 'FAILED')
end
flush()
return 1
"""

# ARGV: prefix, worker, ids...
_RELEASE = r"""
local worker = ARGV[2]
return each(3, 1, function(x)
  local r = held(ARGV[x], worker, 'queue', 'pk', 'seq', 'not_before', 'attempts')
  if not r then return false end
  local attempts = tostring(math.max((tonumber(r[7] or '0') or 1) - 1, 0))
  requeue(ARGV[x], r, nil, 'requeue', worker, 'handed back', 'attempts', attempts)  -- keeps its place
  return true
end)
"""

# ARGV: prefix, ids...
_CANCEL = r"""
return each(2, 1, function(x)
  local id = ARGV[x]
  local r = redis.call('HMGET', jkey(id), 'status', 'queue', 'rk')
  local status = r[1]
  if status ~= 'PENDING' and status ~= 'QUEUED' and status ~= 'RUNNING' then return false end
  if status == 'QUEUED' then
    if r[3] then redis.call('ZREM', P .. ':ready:' .. r[2], r[3]) end
    redis.call('ZREM', P .. ':delayed', id)
  end
  finish(id, r[2], status, 'CANCELLED', 'cancel', nil, nil)
  cascade(id, 'CANCELLED')
  return true
end)
"""

# ARGV: prefix, force (1/0), ids... (FAILED or CANCELLED jobs, and DONE ones with force, queued again by hand;
# others left as they are). A prerequisite counts as unfinished unless it is DONE; one purged is no longer among the
# job's prerequisites.
_RETRY = r"""
local force = ARGV[2] == '1'
return each(3, 1, function(x)
  local id = ARGV[x]
  local r = redis.call('HMGET', jkey(id), 'status', 'queue', 'pk', 'seq')
  local status = r[1]
  if status ~= 'FAILED' and status ~= 'CANCELLED' and not (force and status == 'DONE') then return false end
  local waiting = 0
  -- a continuation waits for its prerequisite to end, however: retried by hand, it runs then
  local any_end = runs_on(redis.call('HGET', jkey(id), 'options')) ~= 'success'
  for _, p in ipairs(redis.call('SMEMBERS', P .. ':after:' .. id)) do
    local ps = redis.call('HGET', jkey(p), 'status')
    if ps and ps ~= 'DONE' and not (any_end and (ps == 'FAILED' or ps == 'CANCELLED')) then
      waiting = waiting + 1
    end
  end
  local dest = (waiting > 0) and 'PENDING' or 'QUEUED'
  clear(id)
  local f = {'status', dest, 'attempts', '0', 'lease_losses', '0', 'waiting', tostring(waiting), 'not_before', NOW_S}
  if dest == 'QUEUED' then push(f, 'rk', place(id, r[2], r[3], r[4], NOW)) end
  redis.call('HSET', jkey(id), unpack(f))
  moved(r[2], status, dest)
  event(id, 'retry', status, dest, nil, status == 'DONE' and 'run again by hand' or 'retried by hand')
  return true
end)
"""

# ARGV: prefix, worker, id, value, has message (1/0), message
_PROGRESS = r"""
local k = jkey(ARGV[3])
if not held(ARGV[3], ARGV[2]) then return 0 end
redis.call('HSET', k, 'progress', ARGV[4])
if ARGV[5] == '1' then
  redis.call('HSET', k, 'progress_message', ARGV[6])
else
  redis.call('HDEL', k, 'progress_message')
end
changed = true
flush()
return 1
"""

# ARGV: prefix, older_than, batch size. Returns how many were deleted.
_PURGE = r"""
local cutoff = NOW - tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', P .. ':finished', '-inf', '(' .. fmt(cutoff), 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do drop(id) end
if #ids > 0 then changed = true end
flush()
return #ids
"""

# ARGV: prefix, ids... Deletes the final ones; returns their ids.
_DELETE = r"""
return each(2, 1, function(x)
  local status = redis.call('HGET', jkey(ARGV[x]), 'status')
  if status ~= 'DONE' and status ~= 'FAILED' and status ~= 'CANCELLED' then return false end
  drop(ARGV[x])
  changed = true
  return true
end)
"""

# ARGV: prefix. The queue of each QUEUED job whose not_before is still to come.
_SCHEDULED = r"""
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':delayed', '(' .. NOW_S, '+inf')) do
  local r = redis.call('HMGET', jkey(id), 'status', 'queue')
  if r[1] == 'QUEUED' then out[#out + 1] = r[2] end
end
return out
"""

# Live workers: P:workers (a hash, id -> info as JSON) and P:workers:expires (a sorted set, id by expiry).
# ARGV: prefix, op ('put' id info expires, 'drop' id, or 'list'). Expired entries are deleted first.
_WORKERS = r"""
local W, E = P .. ':workers', P .. ':workers:expires'
local gone = redis.call('ZRANGEBYSCORE', E, '-inf', '(' .. NOW_S)
if #gone > 0 then
  redis.call('HDEL', W, unpack(gone))
  redis.call('ZREM', E, unpack(gone))
end
local op = ARGV[2]
if op == 'put' then
  redis.call('HSET', W, ARGV[3], ARGV[4])
  redis.call('ZADD', E, ARGV[5], ARGV[3])
  return 1
elseif op == 'drop' then
  redis.call('ZREM', E, ARGV[3])
  return redis.call('HDEL', W, ARGV[3])
end
return redis.call('HVALS', W)
"""

# The enqueue of one job that has no key, prerequisites, condition, delay, time or metadata (what ``delay()``
# stores): the same record, event, sets, counter, wake-up and change as _ENQUEUE writes for it, without the
# prelude or a JSON call to decode. ARGV: prefix, queue, name, label, repr(label) as rlabel, priority, priority key
# (valid: made by the client), options, id, payload. Returns 1, or 0 for an id the store has already (a retried
# call): that job is left as it is.
_ENQUEUE_ONE = r"""
local P, q, id = ARGV[1], ARGV[2], ARGV[9]
local k = P .. ':job:' .. id
if redis.call('EXISTS', k) == 1 then return 0 end
local T = redis.call('TIME')
local now = T[1] .. '.' .. string.format('%06d', tonumber(T[2]))
local seq = redis.call('INCR', P .. ':seq')
local rk = ARGV[7] .. string.format('%016.0f', tonumber(T[1]) * 1000000 + tonumber(T[2]))
  .. string.format('%016.0f', seq) .. id
redis.call('HSET', k, 'status', 'QUEUED', 'name', ARGV[3], 'label', ARGV[4], 'rlabel', ARGV[5], 'queue', q,
  'priority', ARGV[6], 'pk', ARGV[7], 'payload', ARGV[10], 'options', ARGV[8], 'attempts', '0', 'lease_losses', '0',
  'waiting', '0', 'not_before', now, 'id', id, 'created', now, 'seq', tostring(seq), 'rk', rk)
redis.call('ZADD', P .. ':all', seq, id)
redis.call('ZADD', P .. ':ready:' .. q, 0, rk)
redis.call('RPUSH', P .. ':events:' .. id, '["' .. now .. '","queue",null,"QUEUED",null,null]')
local cf = 'QUEUED:' .. q
if redis.call('HINCRBY', P .. ':counts', cf, 1) <= 0 then redis.call('HDEL', P .. ':counts', cf) end
local wk = P .. ':wake:' .. q
if redis.call('RPUSH', wk, '1') > 16 then redis.call('LTRIM', wk, -16, -1) end
redis.call('EXPIRE', wk, 600)
redis.call('XADD', P .. ':changes', 'MAXLEN', '~', '10000', '*', 'c', '1')
return 1
"""
