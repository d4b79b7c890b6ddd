"""URLs: split with clear errors, their options read, their secrets hidden.

The queue registry, the durable queue and the stores read every URL through here, so a malformed URL gets one
clear message wherever it is met, and a password is never shown. Errors are ``ValueError``s naming the URL,
password hidden (the stores raise them as ``StoreError``). Nothing here imports the rest of taskgraph.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

__all__ = [
    "Url", "redact", "secrets", "split", "unsplit", "written", "shown", "query_options", "store_options",
    "worker_count", "seconds", "file_path",
]


def _credentials(url: str) -> tuple[str, str, str | None, str] | None:
    """``(scheme, user, password or None, what follows the '@')``, or None without credentials. They end at the
    last ``@``, so a password holding ``@`` or ``/`` is taken whole: better too much than too little."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, host = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if "/" in user or "?" in user:  # the ':' belongs to a host or path, the '@' to a query: no credentials
        return None
    return scheme, user, password if colon else None, host


def _hide_options(query: str) -> tuple[str, list[str]]:
    """``query`` with the values of options named like ``password`` (``?sslpassword=``) as ``***``, and them."""
    items, values = [], []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        if value and "password" in unquote(name).lower():
            item = f"{name}=***"
            values.append(value)
        items.append(item)
    return "&".join(items), values


def redact(url: str) -> str:
    """``url`` with its password, and the values of options named like ``password``, as ``***``."""
    found = _credentials(url)
    text = url if found is None or found[2] is None else f"{found[0]}://{found[1]}:***@{found[3]}"
    head, sep, query = text.partition("?")
    return f"{head}?{_hide_options(query)[0]}" if sep else text


def secrets(url: str) -> list[str]:
    """The passwords ``url`` holds, as written and unquoted, longest first: what to take out of a driver's
    message that may quote them."""
    found = _credentials(url)
    values = set(_hide_options((url if found is None else found[3]).partition("?")[2])[1])
    if found is not None and found[2]:
        values.add(found[2])
    return sorted(values | {unquote(v) for v in values}, key=lambda v: (-len(v), v))


class Url(SplitResult):
    """A URL split by :func:`split` that remembers how it was written (``given``), so that messages show it as the
    user spelled it (``sqlite:///jobs.db``, not ``sqlite:/jobs.db``; ``SQLite:...`` with its capitals). A copy
    with other options or fragment (``_replace(query=...)``) keeps the spelling of what comes before them."""

    given: str | None = None

    def _replace(self, **changes: str) -> Url:
        fields = {**self._asdict(), **changes}
        new = Url(**fields)
        given = self.given
        if given is not None and set(changes) <= {"query", "fragment"}:
            tail = (f"?{self.query}" if self.query else "") + (f"#{self.fragment}" if self.fragment else "")
            if given.endswith(tail):
                head = given[: len(given) - len(tail)].rstrip("?#")
                new.given = head + (f"?{new.query}" if new.query else "") + (f"#{new.fragment}" if new.fragment
                                                                             else "")
        return new


def written(url: SplitResult) -> str:
    """The URL as it was written, if :func:`split` split it; else put together again by :func:`unsplit`."""
    given = getattr(url, "given", None)
    return given if isinstance(given, str) else unsplit(url)


def shown(url: SplitResult) -> str:
    """The URL for a message: as it was written, its passwords hidden."""
    return redact(written(url))


def split(url: str) -> Url:
    """``url`` split by :func:`urllib.parse.urlsplit`, with a clear error in place of its own; the result keeps
    the text as written (see :class:`Url`).

    Raises:
        ValueError: ``url`` cannot be split (an unclosed ``[`` in the host, say).
    """
    try:
        parts = Url(*urlsplit(url))
    except ValueError as exc:
        reason = str(exc)
    else:
        parts.given = url
        return parts
    if "Invalid IPv6 URL" in reason:
        why = "a '[' or ']' in its host has no pair; write an IPv6 address whole, in brackets, like [::1]"
    elif "IPv4 or IPv6 address" in reason:
        why = "what stands between '[' and ']' is not an IPv6 address; write one like [::1]"
    else:
        why = "it cannot be read as scheme://[user[:password]@]host[:port][/path][?options]"
    raise ValueError(f"{redact(url)!r}: not a valid URL: {why}")


def unsplit(url: SplitResult) -> str:
    """The URL again; unlike ``geturl()``, keeps ``//`` without a host (``sqlite:///jobs.db``)."""
    text = f"{url.scheme}://{url.netloc}{url.path}" + (f"?{url.query}" if url.query else "")
    return text + (f"#{url.fragment}" if url.fragment else "")


def _unknown(shown: str, name: str, allowed: Collection[str]) -> ValueError:
    accepted = ", ".join(sorted(allowed)) or "none"
    return ValueError(f"{shown}: unknown option {name!r}; accepted options: {accepted}")


def query_options(url: SplitResult, allowed: set[str] | frozenset[str]) -> dict[str, str]:
    """The options after ``?``, read as :func:`store_options` reads them, the URL shown as written.

    Raises:
        ValueError: an option not in ``allowed`` (the message lists the accepted ones), given twice, or unreadable.
    """
    return store_options(url, repr(shown(url)), allowed)


def store_options(url: SplitResult, shown: str, allowed: Collection[str], others: bool = False) -> dict[str, str]:
    """The options after ``?`` in ``allowed``, read strictly: each as ``name=value``, once. ``shown`` is the URL
    for messages; with ``others``, options not in ``allowed`` (a driver's) are left out rather than refused.

    Raises:
        ValueError: the options cannot be read, one is given twice, or one is unknown.
    """
    try:
        pairs = parse_qsl(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
    except ValueError:
        raise ValueError(f"{shown}: cannot read the options after '?'; write them as ?name=value&name=value") from None
    options: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed and not others:
            raise _unknown(shown, name, allowed)
        if name in options:
            raise ValueError(f"{shown}: the option {name!r} is given twice")
        if name in allowed:
            options[name] = value
    return options


def worker_count(url: SplitResult, default: int | None) -> int:
    """How many workers a URL such as ``threads://4`` names; ``default`` if none.

    Raises:
        ValueError: none, and no default; or not a whole number >= 1.
    """
    text = (url.netloc or url.path).strip("/")
    if not text:
        if default is None:
            raise ValueError(f"{url.geturl()!r}: say how many workers, like {url.scheme}://4")
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(
            f"{url.geturl()!r}: the number of workers must be a positive whole number, like {url.scheme}://4"
        )
    return int(text)


def seconds(shown: str, name: str, value: str | None, default: float, zero: bool = False) -> float:
    """The seconds option ``name`` gives as ``value``: a positive number (or 0 too, with ``zero``); ``default``
    when it is absent.

    Raises:
        ValueError: not a finite number in range.
    """
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (number >= 0 if zero else number > 0) or math.isinf(number):
        what = "a number of seconds >= 0" if zero else "a positive number of seconds"
        raise ValueError(f"{shown}: {name} must be {what}, like ?{name}={default:g}")
    return number


def file_path(url: SplitResult) -> str:
    """The file a ``scheme:///relative/path`` or ``scheme:////absolute/path`` URL names.

    Raises:
        ValueError: the URL names a host, or no file.
    """
    text = repr(shown(url))
    if url.netloc:
        raise ValueError(f"{text}: write {url.scheme}:///relative.db or {url.scheme}:////absolute/path.db")
    path = unquote(url.path)
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:":
        raise ValueError(f"{text}: give the path of a database file, like {url.scheme}:///jobs.db")
    return path
