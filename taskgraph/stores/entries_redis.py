"""Entries (see :mod:`.entries`) in Redis: per space, a sorted set of keys by score (``PREFIX:ents:SPACE``) and
two hashes, of values (``PREFIX:entv:SPACE``) and versions (``PREFIX:entn:SPACE``); the set ``PREFIX:spaces``
names the spaces. Each method is one Lua script, so a compare-and-set is atomic across every worker.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .entries import Entries, Entry

__all__ = ["RedisEntries"]

# ARGV: prefix, op, space, ...
_SCRIPT = r"""
local P, op, space = ARGV[1], ARGV[2], ARGV[3]
local zs, vs, ns = P .. ':ents:' .. space, P .. ':entv:' .. space, P .. ':entn:' .. space
local function rows(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local score = redis.call('ZSCORE', zs, k)
    if score then
      out[#out + 1] = {k, redis.call('HGET', vs, k) or '', score, redis.call('HGET', ns, k) or '0'}
    end
  end
  return out
end
local function drop(k)
  redis.call('ZREM', zs, k); redis.call('HDEL', vs, k); redis.call('HDEL', ns, k)
end
local function tidy()
  if redis.call('ZCARD', zs) == 0 then redis.call('SREM', P .. ':spaces', space) end
end
if op == 'get' then
  return rows({ARGV[4]})
elseif op == 'list' then
  return rows(redis.call('ZRANGE', zs, '-inf', ARGV[4], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[5])))
elseif op == 'put' then
  local k, want = ARGV[4], ARGV[7]
  local old = tonumber(redis.call('HGET', ns, k) or '0')
  if not redis.call('ZSCORE', zs, k) then old = 0 end
  if want ~= '' and tonumber(want) ~= old then return -1 end
  redis.call('ZADD', zs, ARGV[6], k); redis.call('HSET', vs, k, ARGV[5]); redis.call('HSET', ns, k, old + 1)
  redis.call('SADD', P .. ':spaces', space)
  return old + 1
elseif op == 'touch' then
  if not redis.call('ZSCORE', zs, ARGV[4]) then return 0 end
  redis.call('ZADD', zs, ARGV[5], ARGV[4])
  return 1
elseif op == 'add' then
  local k = ARGV[4]
  if not redis.call('ZSCORE', zs, k) then redis.call('HSET', vs, k, '') end
  redis.call('HINCRBY', ns, k, 1)
  redis.call('SADD', P .. ':spaces', space)
  return redis.call('ZINCRBY', zs, ARGV[5], k)
elseif op == 'delete' then
  local n = 0
  local keys = {}
  if ARGV[4] == 'all' then
    keys = redis.call('ZRANGE', zs, 0, -1)
  else
    for i = 5, #ARGV do keys[#keys + 1] = ARGV[i] end
  end
  for _, k in ipairs(keys) do
    if redis.call('ZSCORE', zs, k) then n = n + 1 end
    drop(k)
  end
  tidy()
  return n
elseif op == 'trim' then
  local keep = tonumber(ARGV[4])
  local gone = redis.call('ZRANGE', zs, 0, -(keep + 1))
  for _, k in ipairs(gone) do drop(k) end
  tidy()
  return #gone
elseif op == 'note' then
  local id = ARGV[4]
  local status = redis.call('HGET', P .. ':job:' .. id, 'status')
  if not status then return 0 end
  local T = redis.call('TIME')
  local at = T[1] .. '.' .. string.format('%06d', tonumber(T[2]))
  local detail = cjson.null
  if ARGV[6] == '1' then detail = ARGV[7] end
  redis.call('RPUSH', P .. ':events:' .. id, cjson.encode({at, ARGV[5], status, status, cjson.null, detail}))
  return 1
end
return redis.error_reply('unknown entry operation ' .. op)
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisEntries(Entries):
    """Entries in the store's Redis server (used by :class:`~.redis.RedisStore`)."""

    prefix: str
    _client: Any
    _errors: Any
    _entry_script: Any = None

    def _entries(self, *args: Any) -> Any:
        if self._entry_script is None:
            self._entry_script = self._client.register_script(_SCRIPT)
        with self._errors():
            return self._entry_script(args=[self.prefix, *args])

    def _entry_rows(self, space: str, rows: list[Any]) -> list[Entry]:
        return [Entry(space, _text(k), bytes(v), float(s), int(n)) for k, v, s, n in rows]

    def entry_get(self, space: str, key: str) -> Entry | None:
        found = self._entry_rows(space, self._entries("get", space, key))
        return found[0] if found else None

    def entry_list(self, space: str, upto: float | None = None, limit: int = 1000) -> list[Entry]:
        bound = "+inf" if upto is None else repr(float(upto))
        found = self._entry_rows(space, self._entries("list", space, bound, max(int(limit), 0)))
        return sorted(found, key=lambda e: (e.score, e.key))

    def entry_put(self, space: str, key: str, value: bytes, score: float, version: int | None = None) -> int | None:
        done = int(self._entries("put", space, key, bytes(value), repr(float(score)),
                                 "" if version is None else str(int(version))))
        return None if done < 0 else done

    def entry_touch(self, space: str, key: str, score: float) -> bool:
        return bool(self._entries("touch", space, key, repr(float(score))))

    def entry_add(self, space: str, key: str, amount: float) -> float:
        return float(self._entries("add", space, key, repr(float(amount))))

    def entry_delete(self, space: str, keys: Collection[str] | None = None) -> int:
        if keys is None:
            return int(self._entries("delete", space, "all"))
        return int(self._entries("delete", space, "some", *sorted(set(keys))))

    def entry_trim(self, space: str, keep: int) -> int:
        return int(self._entries("trim", space, max(int(keep), 0)))

    def entry_spaces(self, prefix: str) -> list[str]:
        with self._errors():
            spaces = [_text(s) for s in self._client.smembers(f"{self.prefix}:spaces")]
        return sorted(s for s in spaces if s.startswith(prefix))

    def note(self, job_id: str, event: str, detail: str | None) -> bool:
        return bool(self._entries("note", "", job_id, event, "0" if detail is None else "1", detail or ""))
