"""XEP-0313 and XEP-0359 on the wire: both sides archived, stanza ids, queries and paging."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.archive.wire import (CLIENT, DELAY, FORWARD, MAM, SID, XDATA, bodies, chat, fin, form,
                                mam, pair, q, rsm, rsm_reply, uids)
from tests.plugins.wire import error_condition, iq_get

pytestmark = pytest.mark.django_db(transaction=True)


async def test_both_sides_are_archived_and_the_recipient_copy_is_stamped(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    [got] = await chat(alice, bob, "hello")
    sid = got.xml.find(q(SID, "stanza-id"))
    assert sid is not None and sid.get("by") == "bob@localhost" and sid.get("id")
    bob_results, bob_answer = await mam(bob)
    assert bodies(bob_results) == ["hello"] and uids(bob_results) == [sid.get("id")]
    forwarded = bob_results[0].find(f"{q(MAM, 'result')}/{q(FORWARD, 'forwarded')}")
    assert forwarded.find(q(DELAY, "delay")).get("stamp").endswith("Z")
    original = forwarded.find(q(CLIENT, "message"))
    assert original.get("from") == "alice@localhost/a" and original.get("to") == "bob@localhost"
    assert bob_results[0].get("to") == "bob@localhost/b"
    assert fin(bob_answer).get("complete") == "true"
    alice_results, _ = await mam(alice)
    assert bodies(alice_results) == ["hello"]


async def test_forged_stanza_ids_are_removed_and_origin_id_is_kept(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    msg = alice.make_message(mto="bob@localhost", mbody="forged", mtype="chat")
    msg.xml.append(ET.fromstring(f"<stanza-id xmlns='{SID}' by='bob@localhost' id='fake'/>"))
    msg.xml.append(ET.fromstring(f"<stanza-id xmlns='{SID}' by='other.example' id='theirs'/>"))
    msg.xml.append(ET.fromstring(f"<origin-id xmlns='{SID}' id='my-origin'/>"))
    msg.send()
    got = await bob.next_message()
    ids = [(s.get("by"), s.get("id")) for s in got.xml.findall(q(SID, "stanza-id"))]
    assert ("bob@localhost", "fake") not in ids and ("other.example", "theirs") in ids
    assert len([i for i in ids if i[0] == "bob@localhost"]) == 1
    assert got.xml.find(q(SID, "origin-id")).get("id") == "my-origin"


async def test_chat_states_errors_and_no_store_are_not_archived(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    for payload in ("<active xmlns='http://jabber.org/protocol/chatstates'/>",
                    "<body>secret</body><no-store xmlns='urn:xmpp:hints'/>"):
        alice.send_raw(f"<message xmlns='{CLIENT}' to='bob@localhost' type='chat'>{payload}</message>")
    alice.send_raw(f"<message xmlns='{CLIENT}' to='bob@localhost' type='error'><body>e</body>"
                   "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                   "</error></message>")
    secret = await bob.next_message()  # slixmpp's message event: messages with a body
    assert secret["body"] == "secret" and secret.xml.find(q(SID, "stanza-id")) is None
    await chat(alice, bob, "kept")
    for client in (alice, bob):
        results, _ = await mam(client)
        assert bodies(results) == ["kept"]


async def test_offline_recipient_gets_archive_and_stamped_offline_copy(xmpp: Any) -> None:
    from tests.clients import connect

    for name in ("alice", "bob"):
        await xmpp.add_user(name)
    alice = await connect(xmpp, "alice@localhost", resource="a")
    alice.send_message(mto="bob@localhost", mbody="while away", mtype="chat")
    sent, _ = await mam(alice)  # the query flushes: alice's copy is in
    assert bodies(sent) == ["while away"]
    bob = await connect(xmpp, "bob@localhost", resource="b")
    got = await bob.next_message()
    assert got["body"] == "while away"
    sid = got.xml.find(q(SID, "stanza-id"))
    assert sid is not None and sid.get("by") == "bob@localhost"
    results, _ = await mam(bob)
    assert uids(results) == [sid.get("id")]


async def test_filter_with_and_ids_and_unknown_id(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    await xmpp.add_user("carol")
    from tests.clients import connect

    carol = await connect(xmpp, "carol@localhost", resource="c")
    await chat(alice, bob, "a1", "a2")
    await chat(carol, bob, "c1")
    results, _ = await mam(bob, form(with_="carol@localhost"))
    assert bodies(results) == ["c1"]
    every, _ = await mam(bob, queryid="all")
    one, answer = await mam(bob, form(ids=[uids(every)[1]]), queryid="one")
    assert bodies(one) == ["a2"] and fin(answer).get("complete") == "true"
    _, answer = await mam(bob, form(after_id="no-such-id"), queryid="bad")
    assert error_condition(answer) == ("cancel", "item-not-found")
    after, _ = await mam(bob, form(after_id=uids(every)[0], before_id=uids(every)[2]), queryid="mid")
    assert bodies(after) == ["a2"]


async def test_paging_both_ways(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    texts = [f"m{i}" for i in range(7)]
    await chat(alice, bob, *texts)
    last, answer = await mam(bob, rsm(3, before=""), queryid="last")
    assert bodies(last) == ["m4", "m5", "m6"]
    reply = rsm_reply(answer)
    assert reply == {"first": uids(last)[0], "index": "4", "last": uids(last)[-1], "count": "7"}
    assert fin(answer).get("complete") is None or fin(answer).get("complete") == "false"
    back, answer = await mam(bob, rsm(3, before=reply["first"]), queryid="back")
    assert bodies(back) == ["m1", "m2", "m3"]
    start, answer = await mam(bob, rsm(3, before=rsm_reply(answer)["first"]), queryid="start")
    assert bodies(start) == ["m0"] and fin(answer).get("complete") == "true"
    forward, answer = await mam(bob, rsm(4, after=uids(start)[0]), queryid="fwd")
    assert bodies(forward) == ["m1", "m2", "m3", "m4"] and fin(answer).get("complete") == "false"
    rest, answer = await mam(bob, rsm(4, after=rsm_reply(answer)["last"]), queryid="rest")
    assert bodies(rest) == ["m5", "m6"] and fin(answer).get("complete") == "true"
    flipped, _ = await mam(bob, rsm(3, before=""), queryid="flip", extra="<flip-page/>")
    assert bodies(flipped) == ["m6", "m5", "m4"]
    _, answer = await mam(bob, rsm(2, after="unknown"), queryid="gone")
    assert error_condition(answer) == ("cancel", "item-not-found")
    none, answer = await mam(bob, rsm(0), queryid="count")
    assert none == [] and rsm_reply(answer)["count"] == "7"


async def test_the_form_metadata_and_disco(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    answer = await iq_get(bob, None, f"<query xmlns='{MAM}'/>")
    x = answer.find(f"{q(MAM, 'query')}/{q(XDATA, 'x')}")
    fields = {f.get("var"): f.get("type") for f in x.findall(q(XDATA, "field"))}
    assert fields["with"] == "jid-single" and fields["start"] == "text-single"
    assert {"before-id", "after-id", "ids", "{urn:xmpp:fulltext:0}fulltext"} <= set(fields)
    assert not x.findall(f"{q(XDATA, 'field')}/{q(XDATA, 'required')}")
    empty = await iq_get(bob, None, f"<metadata xmlns='{MAM}'/>")
    assert len(empty.find(q(MAM, "metadata"))) == 0
    await chat(alice, bob, "first", "second")
    every, _ = await mam(bob)
    meta = (await iq_get(bob, None, f"<metadata xmlns='{MAM}'/>")).find(q(MAM, "metadata"))
    assert meta.find(q(MAM, "start")).get("id") == uids(every)[0]
    assert meta.find(q(MAM, "end")).get("id") == uids(every)[1]
    assert meta.find(q(MAM, "end")).get("timestamp").endswith("Z")
    info = await iq_get(bob, "bob@localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    features = {f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert {MAM, f"{MAM}#extended", SID} <= features


async def test_another_users_archive_is_forbidden_and_unknown_fields_refused(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    _, answer = await mam(alice, to="bob@localhost")
    assert error_condition(answer) == ("auth", "forbidden")
    _, answer = await mam(alice, form(**{"{urn:example}mood": "x"}))
    assert error_condition(answer) == ("cancel", "feature-not-implemented")
    _, answer = await mam(alice, form(start="yesterday"))
    assert error_condition(answer) == ("modify", "bad-request")


async def test_fulltext_and_time_range(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    await chat(alice, bob, "Where art thou Romeo", "nothing here", "ROMEO again")
    found, _ = await mam(bob, form(**{"{urn:xmpp:fulltext:0}fulltext": "romeo"}))
    assert bodies(found) == ["Where art thou Romeo", "ROMEO again"]
    later, _ = await mam(bob, form(start="2999-01-01T00:00:00Z"), queryid="later")
    assert later == []
    earlier, _ = await mam(bob, form(end="2999-01-01T00:00:00Z"), queryid="earlier")
    assert len(earlier) == 3


async def test_slixmpp_mam_plugin_reads_the_archive(xmpp: Any) -> None:
    alice, bob = await pair(xmpp)
    bob.register_plugin("xep_0313")
    bob.register_plugin("xep_0359")
    await chat(alice, bob, "one", "two", "three")
    pages = [page async for page in bob["xep_0313"].iterate(with_jid="alice@localhost", rsm={"max": 2})]
    assert [m["mam_result"]["forwarded"]["stanza"]["body"] for m in pages] == ["one", "two", "three"]
    fields = await bob["xep_0313"].get_fields()
    assert "with" in [f["var"] for f in fields["fields"]]
    meta = await bob["xep_0313"].get_archive_metadata()
    assert meta["mam_metadata"]["end"]["id"]


async def test_a_received_carbon_carries_the_stanza_id(xmpp: Any) -> None:
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    from tests.clients import connect
    from tests.support.quiet import settle

    alice, bob = await pair(xmpp)
    other = await connect(xmpp, "bob@localhost", resource="other")
    other.register_plugin("xep_0280")
    await other.plugin["xep_0280"].enable(timeout=5)
    carbons = "urn:xmpp:carbons:2"
    copies: list[ET.Element] = []
    other.register_handler(Callback("carbon", MatchXPath(f"{{{CLIENT}}}message/{{{carbons}}}received"),
                                    lambda m: copies.append(m.xml)))
    alice.send_message(mto="bob@localhost/b", mbody="to one device", mtype="chat")
    original = await bob.next_message()
    await settle(other)  # the copy is on other's stream before its pong
    inner = copies[0].find(f"{q(carbons, 'received')}/{q(FORWARD, 'forwarded')}/{q(CLIENT, 'message')}")
    stamped = inner.find(q(SID, "stanza-id"))
    assert stamped.get("id") == original.xml.find(q(SID, "stanza-id")).get("id")
