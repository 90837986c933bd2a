"""Issue 8: XEP-0050 sessions a user leaves unfinished are bounded (oldest expire first)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from commands.adhoc.book import SESSIONS_PER_USER
from commands.adhoc.machine import AdHoc
from tests.clients import RawClient, connect, raw_plain_login
from tests.commands.test_adhoc import cmd_of, error_of, execute

pytestmark = pytest.mark.django_db(transaction=True)
ABANDONED = 2000


def _adhoc(srv: Any) -> AdHoc:
    return next(h.__self__ for h in srv.server.hooks.handlers("session/closed")
                if isinstance(getattr(h, "__self__", None), AdHoc))


async def _abandon(raw: RawClient, count: int) -> list[str]:
    """Start `count` user_info executions at once, never finish them; their session ids."""
    raw.send("".join(f"<iq type='set' id='x{i}' to='localhost'><command xmlns='http://jabber.org/protocol/commands'"
                     " node='user_info' action='execute'/></iq>" for i in range(count)))
    data = await raw.read_until(rf"id=.x{count - 1}.[^>]*>.*?</iq>", timeout=60)
    raw.take()
    return re.findall(rb"sessionid=.([0-9a-f]+).", data)


async def test_a_users_oldest_unfinished_sessions_expire(xmpp: Any) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    sids = [cmd_of(await execute(bob, "user_info", action="execute")).get("sessionid")
            for _ in range(SESSIONS_PER_USER + 3)]
    for sid in sids[:3]:  # §4.4: pushed out by the cap, they answer session-expired
        reply = await execute(bob, "user_info", sessionid=sid, submit={"jid": "bob@localhost"})
        assert error_of(reply) == ("cancel", "not-allowed", "session-expired")
    done = cmd_of(await execute(bob, "user_info", sessionid=sids[3], submit={"jid": "bob@localhost"}))
    assert done.get("status") == "completed"
    assert len(_adhoc(xmpp).sessions) == SESSIONS_PER_USER - 1


async def test_thousands_of_abandoned_executions_stay_bounded(xmpp: Any) -> None:
    await xmpp.add_user("bob")
    raw = await RawClient.open(xmpp.host, xmpp.port)
    await raw_plain_login(raw, "bob")
    sids = await _abandon(raw, ABANDONED)
    assert len(set(sids)) == ABANDONED
    adhoc = _adhoc(xmpp)
    assert len(adhoc.sessions) == SESSIONS_PER_USER
    assert set(adhoc.sessions) == {sid.decode() for sid in sids[-SESSIONS_PER_USER:]}
    # The next request still starts a session; the user's oldest one makes room.
    [sid] = await _abandon(raw, 1)
    assert len(adhoc.sessions) == SESSIONS_PER_USER and sid.decode() in adhoc.sessions
    assert sids[-SESSIONS_PER_USER].decode() in adhoc.ended
