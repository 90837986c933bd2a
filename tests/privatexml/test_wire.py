"""XEP-0049 (and XEP-0048 bookmarks in it) on the wire: own data only, reserved namespaces,
wrong payloads, the per-account quota (privatexml/)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from slixmpp.plugins.xep_0048.stanza import Bookmarks

from accounts.actions import do_delete_account
from privatexml.models import PrivateXML
from tests.clients import connect
from tests.plugins.wire import error_condition, iq_get, q
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

PRIVATE = "jabber:iq:private"


async def iq_set(client: Any, to: str | None, payload: str) -> ET.Element:
    from slixmpp.exceptions import IqError

    iq = client.make_iq_set(ito=to)
    iq.xml.append(ET.fromstring(payload))
    try:
        return (await iq.send(timeout=5.0)).xml
    except IqError as err:
        return err.iq.xml


def private(inner: str) -> str:
    return f"<query xmlns='{PRIVATE}'>{inner}</query>"


async def test_store_and_retrieve_with_slixmpp(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    alice.register_plugin("xep_0049")
    prefs = ET.fromstring("<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>")
    await iq_set(alice, None, private(ET.tostring(prefs).decode()))
    reply = await iq_get(alice, None, private("<exodus xmlns='exodus:prefs'/>"))
    assert reply.get("type") == "result"
    (query,) = list(reply)
    (stored,) = list(query)
    assert stored.tag == q("exodus:prefs", "exodus") and stored.findtext(q("exodus:prefs", "defaultnick")) == "Hamlet"
    # Nothing stored under a namespace: the empty element comes back (XEP-0049 §2.3).
    empty = await iq_get(alice, None, private("<other xmlns='urn:test:none'/>"))
    (query,) = list(empty)
    assert [c.tag for c in query] == [q("urn:test:none", "other")] and not len(query[0])
    # Another resource of the same account reads the same data, and a set replaces it.
    again = await connect(xmpp, "alice@localhost", resource="two")
    await iq_set(again, "alice@localhost", private("<exodus xmlns='exodus:prefs'><a/></exodus>"
                                                   "<exodus xmlns='exodus:prefs'><b/></exodus>"))
    reply = await iq_get(alice, None, private("<exodus xmlns='exodus:prefs'/>"))
    assert [len(e) for e in reply[0]] == [1, 1] and reply[0][0][0].tag == q("exodus:prefs", "a")


async def test_xep_0048_bookmarks_in_private_storage(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    alice.register_plugin("xep_0049")
    alice.register_plugin("xep_0048")
    bookmarks = Bookmarks()
    bookmarks.add_conference("council@conference.localhost", "Puck", name="Council", autojoin=True)
    bookmarks.add_url("https://example.org/", name="Example")
    await alice["xep_0048"].set_bookmarks(bookmarks, method="xep_0049")
    other = await connect(xmpp, "alice@localhost", resource="other")
    other.register_plugin("xep_0049")
    other.register_plugin("xep_0048")
    result = await other["xep_0048"].get_bookmarks(method="xep_0049")
    storage = result["private"]["bookmarks"].xml
    assert storage.tag == q("storage:bookmarks", "storage")
    (conf,) = storage.findall(q("storage:bookmarks", "conference"))
    assert conf.get("jid") == "council@conference.localhost" and conf.get("name") == "Council"
    assert conf.get("autojoin") == "true" and conf.findtext(q("storage:bookmarks", "nick")) == "Puck"
    assert storage.find(q("storage:bookmarks", "url")).get("url") == "https://example.org/"


@pytest.mark.parametrize("payload, condition", [
    (private(""), "not-acceptable"),  # §2.3: at least one child
    (private("<vCard xmlns='vcard-temp'><FN>H</FN></vCard>"), "not-acceptable"),  # §3 reserved
    (private("<query xmlns='jabber:iq:roster'/>"), "not-acceptable"),
    (private("<x xmlns='http://jabber.org/protocol/muc'/>"), "not-acceptable"),
])
async def test_refused_sets(xmpp, payload: str, condition: str) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_set(alice, None, payload)
    assert error_condition(reply) == ("modify", condition)
    assert not await db(lambda: PrivateXML.objects.count())


async def test_refused_gets(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    two = private("<a xmlns='urn:a'/><b xmlns='urn:b'/>")  # §2.3: one namespace per get
    assert error_condition(await iq_get(alice, None, two)) == ("modify", "not-acceptable")
    assert error_condition(await iq_get(alice, None, private(""))) == ("modify", "not-acceptable")
    reserved = private("<vCard xmlns='vcard-temp'/>")
    assert error_condition(await iq_get(alice, None, reserved)) == ("modify", "not-acceptable")


async def test_only_the_owner(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await iq_set(alice, None, private("<secret xmlns='urn:test:s'>alice's</secret>"))
    stolen = await iq_get(bob, "alice@localhost", private("<secret xmlns='urn:test:s'/>"))
    assert error_condition(stolen) == ("auth", "forbidden")
    assert b"alice's" not in ET.tostring(stolen)
    written = await iq_set(bob, "alice@localhost", private("<secret xmlns='urn:test:s'>bob's</secret>"))
    assert error_condition(written) == ("auth", "forbidden")
    mine = await iq_get(alice, None, private("<secret xmlns='urn:test:s'/>"))
    assert mine[0][0].text == "alice's"


async def test_quota_per_account(xmpp) -> None:
    xmpp.server.hooks.handlers(f"iq-set/self/{PRIVATE}:query")[0].__self__.quota = 600
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    big = "x" * 300
    assert (await iq_set(alice, None, private(f"<a xmlns='urn:a'>{big}</a>"))).get("type") == "result"
    over = await iq_set(alice, None, private(f"<b xmlns='urn:b'>{big}</b>"))
    assert error_condition(over) == ("modify", "not-acceptable")
    # Replacing a namespace counts its new size, not both.
    assert (await iq_set(alice, None, private(f"<a xmlns='urn:a'>{big}y</a>"))).get("type") == "result"
    assert await db(lambda: sorted(PrivateXML.objects.values_list("namespace", flat=True))) == ["urn:a"]


async def test_deleted_account_loses_its_data(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await iq_set(alice, None, private("<a xmlns='urn:a'/>"))
    assert await db(lambda: PrivateXML.objects.count()) == 1
    alice.abort()
    await db(do_delete_account, "alice", "localhost")
    assert await db(lambda: PrivateXML.objects.count()) == 0
