"""How a PostgreSQL store waits: LISTEN/NOTIFY.

Every write that makes a job ready notifies ``<schema>:work`` (the payload is its queue); every status change
notifies ``<schema>:changes``; both in the transaction of the change, so a waiter never sees a notification before
the change is visible. A connection starts listening at its first wait, which returns at once (it cannot know what
happened before); from then on it keeps receiving notifications between calls (each statement takes in those that
arrived), so none is missed. An idle worker also wakes when the next delayed job of its queues comes due or the
next lease expires, which notify nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from psycopg import Notify, sql

if TYPE_CHECKING:
    from .postgres_session import Session

__all__ = ["Notifications"]


class Notifications:
    """The notifications one session's connection received and its waits have not reported yet."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.work_channel = f"{session.schema}:work"
        self.changes_channel = f"{session.schema}:changes"
        self._listening: set[str] = set()
        # not yet reported: the queues named on the work channel, and None for a notification on the changes channel
        self._news: set[str | None] = set()

    def reset(self) -> None:
        """Forget the channels listened to: the connection is new."""
        self._listening.clear()

    def _listen(self, channel: str) -> bool:
        """Start listening on ``channel``; whether this call started it (then what happened before is unknown)."""
        conn = self._session.connection()
        if channel in self._listening:
            return False
        with self._session.errors():
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._listening.add(channel)
        return True

    def absorb(self) -> None:
        """Take in the notifications received so far, without waiting (they pile up in psycopg otherwise)."""
        if self._listening:
            with self._session.errors():
                self._note(self._session.conn.notifies(timeout=0))

    def _note(self, notifies: Iterable[Notify]) -> None:
        for n in notifies:
            self._news.add(None if n.channel == self.changes_channel else n.payload)

    def _until(self, wanted: AbstractSet[str | None], deadline: float) -> None:
        """Take in notifications until one in ``wanted`` is reported (and forgotten), or ``deadline`` (monotonic)."""
        with self._session.errors():
            while not self._take(wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._note(self._session.conn.notifies(timeout=left, stop_after=1))

    def wait(self, timeout: float) -> None:
        """See :meth:`taskgraph.stores.base.Store.wait`."""
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._listen(self.changes_channel):
            self.absorb()
            self._until({None}, deadline)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """See :meth:`taskgraph.stores.base.Store.wait_for_work`."""
        wanted = set(queues)
        deadline = time.monotonic() + max(timeout, 0.0)
        if self._listen(self.work_channel):
            return
        self.absorb()
        if self._take(wanted):
            return
        if timeout > 0 and wanted:
            # wake when a delayed job of these queues comes due, or a lease expires (the next claim recovers it)
            [(due, expiry)] = self._session.exec(self._session.q["_Q_DUE"], {"queues": sorted(wanted)})
            soon = [t for t in (due, expiry) if t is not None and t > 0]
            if soon:
                deadline = min(deadline, time.monotonic() + min(soon) + 0.001)
        self._until(wanted, deadline)

    def _take(self, wanted: AbstractSet[str | None]) -> bool:
        hits = self._news & wanted
        self._news -= hits
        return bool(hits)
