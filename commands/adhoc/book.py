"""The live XEP-0050 sessions of one process: bounded per user, swept in O(1) per request.

Sessions are kept in the order they were last touched, so the idle timeout (§3.3 "Session
Lifetime") looks only at the oldest ones; an index by requester's bare JID caps how many
unfinished sessions one user holds (issue 8: 5000 started and abandoned executions must not
grow memory nor slow the next request). Beyond the cap the user's oldest session expires and
its id answers <session-expired/> (§4.4) like any other ended session.
"""

from __future__ import annotations

import collections
from commands.adhoc.protocol import CommandSession
from xmppcore.jid import JID

SESSIONS_PER_USER = 20  # unfinished command sessions one user (bare JID) may hold
ENDED_REMEMBERED = 4096  # ended session ids kept to answer <session-expired/> (§4.4)


class SessionBook:
    """Live sessions by id (least recently touched first), by owner, and the ended ids."""

    def __init__(self, per_user: int = SESSIONS_PER_USER) -> None:
        self.per_user = per_user
        self.sessions: collections.OrderedDict[str, CommandSession] = collections.OrderedDict()
        self.ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._by_owner: dict[JID, dict[str, CommandSession]] = {}

    def add(self, sess: CommandSession) -> list[CommandSession]:
        """Register `sess`; return the owner's oldest sessions it pushes over the cap (to end)."""
        self.sessions[sess.id] = sess
        mine = self._by_owner.setdefault(sess.owner.bare, {})
        mine[sess.id] = sess
        return list(mine.values())[:max(0, len(mine) - self.per_user)]

    def touch(self, sess: CommandSession, now: float) -> None:
        sess.touched = now
        if sess.id in self.sessions:
            self.sessions.move_to_end(sess.id)

    def end(self, sess: CommandSession) -> bool:
        """Forget a live session and remember its id as ended; False if it was not live."""
        if self.sessions.pop(sess.id, None) is None:
            return False
        mine = self._by_owner.get(sess.owner.bare)
        if mine is not None:
            mine.pop(sess.id, None)
            if not mine:
                del self._by_owner[sess.owner.bare]
        self.ended[sess.id] = None
        while len(self.ended) > ENDED_REMEMBERED:
            self.ended.popitem(last=False)
        return True

    def oldest(self) -> CommandSession | None:
        """The least recently touched live session (the first the idle timeout ends)."""
        return next(iter(self.sessions.values()), None)

    def of_owner(self, bare: JID) -> list[CommandSession]:
        return list(self._by_owner.get(bare, {}).values())
