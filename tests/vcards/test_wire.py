"""XEP-0054 on the wire: set and get one's own vCard, read others', errors for the rest."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from slixmpp.exceptions import IqError

from accounts.actions import do_delete_account
from tests.clients import connect, parse_fragment
from tests.plugins.wire import CLIENT, STANZAS, error_condition, iq_get, q, raw_login
from vcards import actions
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

VCARD = "vcard-temp"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
ALICE_CARD = ("<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME>"
              "<EMAIL><INTERNET/><USERID>alice@example.org</USERID></EMAIL></vCard>")


async def iq_set(client: Any, to: str | None, payload: str, timeout: float = 5.0) -> ET.Element:
    iq = client.make_iq_set(ito=to)
    iq.xml.append(ET.fromstring(payload))
    try:
        result = await iq.send(timeout=timeout)
    except IqError as err:
        return err.iq.xml
    return result.xml


def only_vcard(el: ET.Element) -> ET.Element:
    assert el.get("type") == "result", ET.tostring(el)
    (vcard,) = list(el)
    assert vcard.tag == q(VCARD, "vCard")
    return vcard


async def test_set_then_get_own_vcard_and_others_read_it(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    result = await iq_set(alice, None, ALICE_CARD)
    assert result.get("type") == "result" and list(result) == [], ET.tostring(result)

    for client, to in ((alice, None), (alice, "alice@localhost"), (bob, "alice@localhost")):
        vcard = only_vcard(await iq_get(client, to, "<vCard xmlns='vcard-temp'/>"))
        assert vcard.findtext(q(VCARD, "FN")) == "Alice Liddell"
        assert vcard.findtext(q(VCARD, "NICKNAME")) == "al"
        assert vcard.findtext(f"{q(VCARD, 'EMAIL')}/{q(VCARD, 'USERID')}") == "alice@example.org"
    # The stored XML declares vcard-temp only, not the stream's jabber:client.
    stored = await db(actions.get_vcard, "alice", "localhost")
    assert "jabber:client" not in stored and "Alice Liddell" in stored

    # A second set replaces the first one.
    assert (await iq_set(alice, None, "<vCard xmlns='vcard-temp'><FN>A.</FN></vCard>")).get("type") == "result"
    vcard = only_vcard(await iq_get(bob, "alice@localhost", "<vCard xmlns='vcard-temp'/>"))
    assert vcard.findtext(q(VCARD, "FN")) == "A." and vcard.find(q(VCARD, "NICKNAME")) is None


async def test_slixmpp_plugin_round_trip(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    alice.register_plugin("xep_0054")
    card = alice["xep_0054"].make_vcard()
    card["FN"] = "Alice"
    await alice["xep_0054"].publish_vcard(card, timeout=5)
    got = await alice["xep_0054"].get_vcard("alice@localhost", local=False, cached=False, timeout=5)
    assert got["vcard_temp"]["FN"] == "Alice"


async def test_empty_vcard_for_a_user_without_one(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    for to in (None, "bob@localhost"):
        vcard = only_vcard(await iq_get(alice, to, "<vCard xmlns='vcard-temp'/>"))
        assert list(vcard) == [] and not (vcard.text or "").strip()


async def test_set_to_another_users_jid_is_forbidden(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    result = await iq_set(alice, "bob@localhost", ALICE_CARD)
    assert error_condition(result) == ("auth", "forbidden")
    assert await db(actions.get_vcard, "bob", "localhost") is None


async def test_unknown_user_is_service_unavailable(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    result = await iq_get(alice, "nobody@localhost", "<vCard xmlns='vcard-temp'/>")
    assert error_condition(result) == ("cancel", "service-unavailable")


async def test_oversized_vcard_is_a_policy_violation(xmpp) -> None:
    # A raw socket: slixmpp does not know the policy-violation condition and drops the reply.
    await xmpp.add_user("alice")
    raw = await raw_login(xmpp, "alice")
    try:
        big = f"<vCard xmlns='vcard-temp'><DESC>{'x' * (64 * 1024)}</DESC></vCard>"
        raw.send(f"<iq type='set' id='big1'>{big}</iq>")
        reply = parse_fragment(await raw.read_until(rb"</iq>"))
    finally:
        raw.close()
    assert reply.get("id") == "big1" and reply.get("type") == "error"
    error = reply.find(q(CLIENT, "error"))
    assert error is not None and error.get("type") == "modify"
    assert error.find(q(STANZAS, "policy-violation")) is not None
    assert await db(actions.get_vcard, "alice", "localhost") is None


async def test_account_deletion_removes_the_vcard(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    assert (await iq_set(alice, None, ALICE_CARD)).get("type") == "result"
    assert await db(actions.get_vcard, "alice", "localhost") is not None
    await db(do_delete_account, "alice", "localhost")
    assert await db(actions.get_vcard, "alice", "localhost") is None
    result = await iq_get(bob, "alice@localhost", "<vCard xmlns='vcard-temp'/>")
    assert error_condition(result) == ("cancel", "service-unavailable")


async def test_server_advertises_vcard_temp(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    result = await iq_get(alice, "localhost", f"<query xmlns='{DISCO_INFO}'/>")
    features = {f.get("var") for f in result.iter(q(DISCO_INFO, "feature"))}
    assert VCARD in features
