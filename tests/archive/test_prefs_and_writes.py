"""XEP-0441 preferences applied on the write path, and the write buffer: batches off the
message path, a flush by size, a last flush at server stop."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.test import override_settings
from slixmpp.exceptions import IqError

from archive import actions
from archive.models import ArchivedMessage
from tests.archive.wire import MAM, SID, bodies, chat, mam, pair, q
from tests.clients import connect
from tests.plugins.wire import error_condition, iq_get
from tests.support.waiting import wait_for
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


async def _set_prefs(client: Any, xml: str) -> Any:
    iq = client.make_iq_set()
    iq.xml.append(ET.fromstring(xml))
    return (await iq.send(timeout=5)).xml


async def test_prefs_get_set_and_applied(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    default = (await iq_get(bob, None, f"<prefs xmlns='{MAM}'/>")).find(q(MAM, "prefs"))
    assert default.get("default") == "always"
    answer = await _set_prefs(bob, f"<prefs xmlns='{MAM}' default='always'><always/>"
                                   "<never><jid>alice@localhost/ignored</jid></never></prefs>")
    stored = answer.find(q(MAM, "prefs"))
    assert [j.text for j in stored.iter(q(MAM, "jid"))] == ["alice@localhost"]
    [got] = await chat(alice, bob, "off the record")
    assert got.xml.find(q(SID, "stanza-id")) is None
    results, _ = await mam(bob)
    assert results == []
    sent, _ = await mam(alice)  # alice's own archive follows her preferences, not bob's
    assert bodies(sent) == ["off the record"]
    again = (await iq_get(bob, None, f"<prefs xmlns='{MAM}'/>")).find(q(MAM, "prefs"))
    assert [j.text for j in again.find(q(MAM, "never"))] == ["alice@localhost"]


async def test_bad_prefs_are_refused(xmpp: Any) -> None:
    alice, _ = await pair(xmpp)
    with pytest.raises(IqError) as err:
        await _set_prefs(alice, f"<prefs xmlns='{MAM}' default='sometimes'/>")
    assert error_condition(err.value.iq.xml) == ("modify", "bad-request")


async def test_roster_default_archives_contacts_only(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    await _set_prefs(bob, f"<prefs xmlns='{MAM}' default='roster'/>")
    [stranger] = await chat(alice, bob, "from a stranger")
    assert stranger.xml.find(q(SID, "stanza-id")) is None
    await bob.update_roster("alice@localhost", name="Alice")
    [contact] = await chat(alice, bob, "from a contact")
    assert contact.xml.find(q(SID, "stanza-id")) is not None
    results, _ = await mam(bob)
    assert bodies(results) == ["from a contact"]


async def test_stored_prefs_apply_to_an_offline_recipient(make_server: Any) -> None:
    await db(actions.do_set_prefs, "bob@localhost", "never", [], [])
    srv = await make_server()  # preferences are read at start
    for name in ("alice", "bob"):
        await srv.add_user(name)
    alice = await connect(srv, "alice@localhost", resource="a")
    alice.send_message(mto="bob@localhost", mbody="stored, not archived", mtype="chat")
    await mam(alice)  # a query flushes the buffer
    bob = await connect(srv, "bob@localhost", resource="b")
    got = await bob.next_message()
    assert got["body"] == "stored, not archived" and got.xml.find(q(SID, "stanza-id")) is None
    assert await db(lambda: list(ArchivedMessage.objects.values_list("owner", flat=True))) == ["alice@localhost"]


async def _count() -> int:
    return await db(ArchivedMessage.objects.count)


async def test_writes_are_batched_and_flushed_at_stop(make_server: Any) -> None:
    with override_settings(XMPP_MAM_FLUSH_INTERVAL=3600.0, XMPP_MAM_FLUSH_ROWS=1000):
        srv = await make_server()
    alice, bob = await pair(srv)
    await chat(alice, bob, "one", "two")
    assert await _count() == 0  # delivered, and nothing written on the message path
    await srv.runner.stop()
    assert await _count() == 4  # both sides of both messages, at stop


async def test_a_full_batch_is_written_without_waiting(make_server: Any) -> None:
    with override_settings(XMPP_MAM_FLUSH_INTERVAL=3600.0, XMPP_MAM_FLUSH_ROWS=4):
        srv = await make_server()
    alice, bob = await pair(srv)
    await chat(alice, bob, "one", "two")
    await wait_for(lambda: _count(), what="a batch of 4 rows written")
    assert await _count() == 4


async def test_a_failed_write_is_kept_and_written_later(monkeypatch: Any) -> None:
    from lxml import etree

    from archive import buffer
    from xmppcore.jid import JID

    written: list[list[Any]] = []
    failures = [RuntimeError("database away")]

    def flaky(rows: list[Any]) -> int:
        if failures:
            raise failures.pop()
        written.append(rows)
        return len(rows)

    monkeypatch.setattr(buffer.actions, "do_append", flaky)
    wb = buffer.WriteBuffer(interval=3600.0, batch=100)
    el = etree.fromstring("<message xmlns='jabber:client'><body>x</body></message>")
    for uid in ("s1", "s2"):
        wb.append(buffer.Entry(JID.parse("a@x"), JID.parse("b@x"), "out", uid, 0.0, el, False))
    await wb.flush()
    assert written == [] and [e.stanza_id for e in wb.pending] == ["s1", "s2"]
    wb.append(buffer.Entry(JID.parse("a@x"), JID.parse("b@x"), "out", "s3", 0.0, el, False))
    await wb.stop()
    assert [[r.stanza_id for r in rows] for rows in written] == [["s1", "s2", "s3"]]
    assert wb.pending == []
