"""XEP-0198 on the wire (raw sockets): the feature, <enable/>, <r/>/<a/> both ways with the
2^32 wrap, <resume/> with re-sending, a resumption that replaces a live stream, <failed/>."""

from __future__ import annotations

import re

import pytest

from plugins.sm_state import MOD
from tests.clients import stream_error_condition
from tests.plugins.sm_wire import SM, bind, bodies, element, raw_auth, reset, sm_login
from tests.plugins.wire import raw_login
from tests.support.quiet import raw_nothing_more, raw_settle
from tests.support.waiting import wait_for
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
ALICE = JID.parse("alice@localhost/phone")
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def chat(to: str, body: str) -> str:
    return f"<message to='{to}' type='chat' id='{body}'><body>{body}</body></message>"


def condition_of(failed) -> str:
    children = [c for c in failed if c.tag.startswith(f"{{{STANZAS}}}")]
    assert len(children) == 1, failed
    return children[0].tag.split("}")[1]


async def test_the_feature_is_offered_after_authentication_only(xmpp) -> None:
    await xmpp.add_user("alice")
    from tests.clients import open_stream
    before = await open_stream(xmpp)
    assert SM.encode() not in before.features
    raw = await raw_auth(xmpp, "alice")
    assert re.search(rb"<sm xmlns=.urn:xmpp:sm:3./>", raw.features)


async def test_enable_with_resumption_answers_id_resume_and_max(make_server) -> None:
    srv = await make_server(sm_resume_timeout=120.0)
    await srv.add_user("alice")
    _, enabled = await sm_login(srv, "alice")
    assert enabled.get("resume") == "true" and enabled.get("max") == "120"
    assert len(enabled.get("id")) >= 16


async def test_the_default_max_is_300_seconds(xmpp) -> None:
    await xmpp.add_user("alice")
    _, enabled = await sm_login(xmpp, "alice")
    assert enabled.get("max") == "300"


async def test_enable_without_resumption_has_no_id(xmpp) -> None:
    await xmpp.add_user("alice")
    _, enabled = await sm_login(xmpp, "alice", resume=False)
    assert enabled.attrib == {}


async def test_enable_before_bind_fails_with_unexpected_request(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await raw_auth(xmpp, "alice")
    raw.send(f"<enable xmlns='{SM}' resume='true'/>")
    failed = element(await raw.read_until(rb"</failed>"), "failed")
    assert condition_of(failed) == "unexpected-request"
    raw.take()
    await bind(raw, "phone")  # §6: recoverable, the stream goes on
    raw.send(f"<enable xmlns='{SM}'/>")
    await raw.read_until(rb"<enabled")


async def test_a_second_enable_ends_the_stream(xmpp) -> None:
    await xmpp.add_user("alice")
    raw, _ = await sm_login(xmpp, "alice")
    raw.send(f"<enable xmlns='{SM}'/>")
    assert stream_error_condition(await raw.read_to_eof()) == "policy-violation"


async def test_the_client_requests_and_the_server_counts_what_it_handled(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw, _ = await sm_login(xmpp, "alice")  # <presence/> is stanza one
    raw.send(chat("bob@localhost", "1") + chat("bob@localhost", "2") + f"<r xmlns='{SM}'/>")
    a = element(await raw.read_until(rb"<a [^>]*/>"), "a")
    assert a.get("h") == "3"


async def test_the_server_requests_acks_and_drops_what_was_acked(make_server) -> None:
    srv = await make_server(sm_request_every=3, sm_request_delay=30.0)
    await srv.add_user("alice")
    await srv.add_user("bob")
    raw, _ = await sm_login(srv, "alice", presence=False)
    bob, _ = await sm_login(srv, "bob", presence=False)
    for i in range(3):
        bob.send(chat("alice@localhost/phone", f"m{i}"))
    data = await raw.read_until(rb"<r xmlns=.urn:xmpp:sm:3./>")
    assert bodies(data) == ["m0", "m1", "m2"] and data.index(b"m2") < data.index(b"<r ")
    state = srv.server.sessions.get(ALICE).data["sm"]
    assert len(state.unacked) == 3
    raw.send(f"<a xmlns='{SM}' h='2'/>")
    await raw_settle(raw)  # its pong is counted too: m2 and the pong wait for an ack
    assert len(state.unacked) == 2 and b"m2" in state.unacked[0] and b"settle-" in state.unacked[1]


async def test_the_server_requests_an_ack_when_idle(make_server) -> None:
    srv = await make_server(sm_request_every=100, sm_request_delay=0.1)
    await srv.add_user("alice")
    await srv.add_user("bob")
    raw, _ = await sm_login(srv, "alice", presence=False)
    bob, _ = await sm_login(srv, "bob", presence=False)
    bob.send(chat("alice@localhost/phone", "lonely"))
    data = await raw.read_until(rb"<r xmlns=.urn:xmpp:sm:3./>", timeout=3)
    assert bodies(data) == ["lonely"]


async def test_counters_wrap_at_2_to_the_32_both_ways(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw, _ = await sm_login(xmpp, "alice", presence=False)
    bob, _ = await sm_login(xmpp, "bob", presence=False)
    session = xmpp.server.sessions.get(ALICE)
    state = session.data["sm"]
    state.base_in = session.received - (MOD - 1)  # as if 2^32 - 1 stanzas had come and gone
    state.acked = MOD - 1
    raw.send(chat("bob@localhost", "x") + f"<r xmlns='{SM}'/>")
    assert element(await raw.read_until(rb"<a [^>]*/>"), "a").get("h") == "0"
    bob.send(chat("alice@localhost/phone", "y"))
    await raw.read_until(rb"y</body>")
    raw.send(f"<a xmlns='{SM}' h='0'/>")
    await raw_settle(raw)
    assert len(state.unacked) == 1 and b"settle-" in state.unacked[0] and state.acked == 0


async def test_acking_more_than_was_sent_is_a_stream_error(xmpp) -> None:
    await xmpp.add_user("alice")
    raw, _ = await sm_login(xmpp, "alice", presence=False)
    raw.send(f"<a xmlns='{SM}' h='10'/>")
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "undefined-condition"
    too_high = element(data, "handled-count-too-high")
    assert too_high.get("h") == "10" and too_high.get("send-count") == "0"


async def test_resume_resends_what_was_not_acked_in_order_and_carries_counters(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw, enabled = await sm_login(xmpp, "alice", presence=False)
    bob, _ = await sm_login(xmpp, "bob", presence=False)
    raw.send(chat("bob@localhost", "from-alice") + f"<r xmlns='{SM}'/>")
    await raw.read_until(rb"<a [^>]*/>")
    for i in range(4):
        bob.send(chat("alice@localhost/phone", f"m{i}"))
    await raw.read_until(rb"m3</body>")
    reset(raw)  # the client got four but acknowledged only the first two
    await wait_for(lambda: xmpp.server.sessions.get(ALICE).is_detached, what="alice detached")
    bob.send(chat("alice@localhost/phone", "while-away"))
    await raw_settle(bob)
    again = await raw_auth(xmpp, "alice")
    again.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='2'/>")
    data = await again.read_until(rb"while-away</body>")
    resumed = element(data, "resumed")
    assert resumed.get("previd") == enabled.get("id") and resumed.get("h") == "1"
    assert bodies(data) == ["m2", "m3", "while-away"]
    again.take()
    again.send(chat("bob@localhost", "after") + f"<r xmlns='{SM}'/>")  # counting goes on
    assert element(await again.read_until(rb"<a [^>]*/>"), "a").get("h") == "2"
    assert xmpp.server.sessions.get(ALICE) is not None and not xmpp.server.sessions.get(ALICE).is_detached


async def test_resumption_replaces_a_stream_that_is_still_connected(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    old, enabled = await sm_login(xmpp, "alice", presence=False)
    bob, _ = await sm_login(xmpp, "bob", presence=False)
    bob.send(chat("alice@localhost/phone", "one"))
    await old.read_until(rb"one</body>")
    session = xmpp.server.sessions.get(ALICE)
    new = await raw_auth(xmpp, "alice")
    new.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
    data = await new.read_until(rb"one</body>")
    assert element(data, "resumed").get("h") == "0"
    assert stream_error_condition(await old.read_to_eof()) == "conflict"
    assert xmpp.server.sessions.get(ALICE) is session and not session.is_closed
    new.take()
    bob.send(chat("alice@localhost/phone", "two"))
    assert bodies(await new.read_until(rb"two</body>")) == ["two"]


async def test_resume_of_an_unknown_id_fails_with_item_not_found_and_bind_still_works(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await raw_auth(xmpp, "alice")
    raw.send(f"<resume xmlns='{SM}' previd='nonsense' h='0'/>")
    failed = element(await raw.read_until(rb"</failed>"), "failed")
    assert condition_of(failed) == "item-not-found" and failed.get("h") is None
    raw.take()
    await bind(raw, "phone")  # §5: the client may bind at once
    assert xmpp.server.sessions.get(ALICE) is not None


async def test_an_expired_id_fails_with_its_last_h(make_server) -> None:
    srv = await make_server(sm_resume_timeout=0.2)
    await srv.add_user("alice")
    raw, enabled = await sm_login(srv, "alice", presence=False)
    raw.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    await raw.read_until(rb"id=.p1.")
    reset(raw)
    await wait_for(lambda: srv.server.sessions.get(ALICE) is None, what="the session expired")
    again = await raw_auth(srv, "alice")
    again.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
    failed = element(await again.read_until(rb"</failed>"), "failed")
    assert condition_of(failed) == "item-not-found" and failed.get("h") == "1"


async def test_someone_elses_id_is_not_found(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("mallory")
    raw, enabled = await sm_login(xmpp, "alice", presence=False)
    reset(raw)
    await wait_for(lambda: xmpp.server.sessions.get(ALICE).is_detached, what="alice detached")
    thief = await raw_auth(xmpp, "mallory")
    thief.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
    assert condition_of(element(await thief.read_until(rb"</failed>"), "failed")) == "item-not-found"
    assert xmpp.server.sessions.get(ALICE).is_detached


async def test_resume_before_authentication_or_after_bind_is_unexpected(xmpp) -> None:
    await xmpp.add_user("alice")
    from tests.clients import open_stream
    raw = await open_stream(xmpp)
    raw.send(f"<resume xmlns='{SM}' previd='x' h='0'/>")
    assert condition_of(element(await raw.read_until(rb"</failed>"), "failed")) == "unexpected-request"
    bound = await raw_login(xmpp, "alice", resource="desk")
    bound.send(f"<resume xmlns='{SM}' previd='x' h='0'/>")
    assert condition_of(element(await bound.read_until(rb"</failed>"), "failed")) == "unexpected-request"


async def test_acks_and_requests_are_not_counted_as_stanzas(xmpp) -> None:
    await xmpp.add_user("alice")
    raw, _ = await sm_login(xmpp, "alice", presence=False)
    raw.send(f"<r xmlns='{SM}'/><a xmlns='{SM}' h='0'/><r xmlns='{SM}'/>")
    data = await raw.read_until(rb"(<a [^>]*/>.*){2}")
    assert re.findall(rb"<a [^>]*h=\"(\d+)\"", data) == [b"0", b"0"]
    await raw_nothing_more(raw, rb"<r ")
