"""DESIGN.md: the hot path (parse → route → serialize) makes no database query.

Every database access of the server goes through `xmppd.storage.db` (the one seam), so
counting its calls while messages and presence flow between two logged-in users proves it."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.clients import connect
from tests.support.quiet import settle

pytestmark = pytest.mark.django_db(transaction=True)


async def test_messages_and_presence_make_no_database_call(xmpp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from xmppd import storage

    alice = await connect(xmpp, await xmpp.add_user("alice"), resource="a")
    bob = await connect(xmpp, await xmpp.add_user("bob"), resource="b")
    await settle(alice, bob)  # logins done: rosters loaded, offline stores checked
    calls: list[str] = []
    real_db = storage.db

    async def counting_db(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await real_db(fn, *args, **kwargs)

    monkeypatch.setattr(storage, "db", counting_db)
    for module in list(sys.modules.values()):
        if getattr(module, "db", None) is real_db and module is not storage:
            monkeypatch.setattr(module, "db", counting_db)
    for i in range(50):
        alice.send_message(mto="bob@localhost", mbody=f"m{i}", mtype="chat")
    got = [(await bob.next_message())["body"] for _ in range(50)]
    assert got == [f"m{i}" for i in range(50)]
    alice.send_presence(pstatus="busy")
    bob.send_message(mto="alice@localhost/a", mbody="back", mtype="chat")
    assert (await alice.next_message())["body"] == "back"
    # The message archive (archive/buffer.py) writes from its own background task, in
    # batches: a few calls for these 51 messages (102 rows), none per message.
    batches = [c for c in calls if c == "do_append"]
    assert len(batches) <= 25, f"archive writes not batched: {len(batches)} for 51 messages"
    calls = [c for c in calls if c != "do_append"]
    assert calls == [], f"database calls on the hot path: {calls}"
