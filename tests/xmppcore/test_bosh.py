"""xmppcore.bosh, sans-I/O: requests in (bytes), decisions out (stream input, responses),
with the clock given by the test. XEP-0124 1.11.2 and XEP-0206 1.4 section numbers."""

from __future__ import annotations

import hashlib

import pytest
from lxml import etree

from xmppcore import bosh, ns
from xmppcore.bosh import BoshError, BoshSession, Limits, Response, parse_request

B = ns.BOSH
FEATURES = b"<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\"/>"
MSG = b"<message xmlns=\"jabber:client\" to=\"a@localhost/r\"><body>hi</body></message>"


def req(payload: str = "", **attrs: object) -> bosh.Request:
    parts = "".join(f" {k.replace('xmpp_', 'xmpp:').replace('xml_lang', 'xml:lang')}='{v}'"
                    for k, v in attrs.items() if v is not None)
    return parse_request(f"<body xmlns='{B}' xmlns:xmpp='{ns.XBOSH}'{parts}>{payload}</body>".encode())


def new(limits: Limits = Limits(), now: float = 0.0, **attrs: object) -> BoshSession:
    """A session created with rid 100, its stream opened and its features sent."""
    create = {"rid": 100, "to": "localhost", "wait": 30, "hold": 1, "ver": "1.11", "xmpp_version": "1.0"}
    create.update(attrs)
    session = BoshSession("SID", req(**create), limits, now, is_local_domain=lambda d: d == "localhost")
    assert session.start() == [b"<stream:stream xmlns=\"jabber:client\" "
                               b"xmlns:stream=\"http://etherx.jabber.org/streams\" to=\"localhost\" version=\"1.0\">"]
    session.framing.open_bytes({"id": "STREAMID", "version": "1.0", "xml:lang": "en", "from": "localhost"}, ns.CLIENT)
    session.push(FEATURES)
    return session


def answered(session: BoshSession, now: float) -> dict[int, etree._Element]:
    return {rid: etree.fromstring(r.body) for rid, r in session.due(now)}


def created(limits: Limits = Limits(), **attrs: object) -> BoshSession:
    session = new(limits, **attrs)
    assert list(answered(session, 0.0)) == [100]
    return session


# -- parsing -----------------------------------------------------------------------------

def test_parse_request_keeps_attributes_and_serializes_each_payload() -> None:
    r = req("<message xmlns='jabber:client' to='b@localhost'><body>x</body></message><presence xmlns='jabber:client'/>",
            rid=7, sid="s", xmpp_restart="true", xml_lang="de")
    assert (r.rid, r.sid, r.is_restart, r.attrs[ns.q(ns.XML, "lang")]) == (7, "s", True, "de")
    assert r.payloads == [b"<message xmlns=\"jabber:client\" to=\"b@localhost\"><body>x</body></message>",
                          b"<presence xmlns=\"jabber:client\"/>"]


def test_stanzas_in_the_httpbind_namespace_mean_jabber_client() -> None:
    # XEP-0206 §3 note: some clients leave the stanza in the body's default namespace.
    r = req("<message to='b@localhost'><body>x</body><x xmlns='urn:other'><y/></x></message>", rid=7)
    assert r.payloads == [b"<message xmlns=\"jabber:client\" to=\"b@localhost\"><body>x</body>"
                          b"<x xmlns=\"urn:other\"><y/></x></message>"]


@pytest.mark.parametrize("data,condition", [
    (b"", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1'>", "bad-request"),  # incomplete
    (b"<body xmlns='urn:other' rid='1'/>", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind'/>", "bad-request"),  # no rid
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='x1'/>", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='9007199254740992'/>", "bad-request"),  # > 2^53-1
    (b"<!DOCTYPE body [<!ENTITY x 'y'>]><body xmlns='http://jabber.org/protocol/httpbind' rid='1'/>", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><!-- c --></body>", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1'/><body/>", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><message xmlns='jabber:client'><body>"
     + b"x" * 300 + b"</body></message></body>", "policy-violation"),
])
def test_malformed_requests(data: bytes, condition: str) -> None:
    with pytest.raises(BoshError) as exc:
        parse_request(data, max_stanza_size=200)
    assert exc.value.condition == condition


def test_bytes_helpers() -> None:
    assert bosh.body_bytes({}) == b"<body xmlns=\"http://jabber.org/protocol/httpbind\"/>"
    assert bosh.body_bytes({"type": "terminate"}, [FEATURES]) == (
        b"<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:stream=\"http://etherx.jabber.org/streams\""
        b" type=\"terminate\">" + FEATURES + b"</body>")
    assert bosh.terminal_response("item-not-found") == Response(
        b"<body xmlns=\"http://jabber.org/protocol/httpbind\" type=\"terminate\" condition=\"item-not-found\"/>")
    assert bosh.terminal_response("item-not-found", legacy=True).status == 404
    assert bosh.terminal_response("host-unknown", legacy=True).status == 200  # no legacy code for it


# -- session creation (§7, XEP-0206 §4) ---------------------------------------------------

def test_creation_response_carries_the_session_and_the_stream_features() -> None:
    session = new(Limits(max_wait=60, max_hold=1, max_inactivity=60, polling=2, max_pause=120))
    [(rid, response)] = session.due(0.0)
    assert rid == 100 and response.status == 200 and response.content_type == "text/xml; charset=utf-8"
    assert response.body == (
        b"<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:xmpp=\"urn:xmpp:xbosh\""
        b" xmlns:stream=\"http://etherx.jabber.org/streams\" sid=\"SID\" wait=\"30\" requests=\"2\" hold=\"1\""
        b" inactivity=\"60\" polling=\"2\" maxpause=\"120\" ver=\"1.11\" from=\"localhost\" authid=\"STREAMID\""
        b" xmpp:version=\"1.0\" xmpp:restartlogic=\"true\">" + FEATURES + b"</body>")


def test_creation_clamps_to_the_servers_limits() -> None:
    session = new(Limits(max_wait=20, max_hold=2, max_inactivity=30, polling=5), wait=3600, hold=9, ver="2.3",
                  content="text/html")
    attrs = answered(session, 0.0)[100].attrib
    assert (attrs["wait"], attrs["hold"], attrs["requests"], attrs["ver"]) == ("20", "2", "3", "1.11")
    assert session.content_type == "text/html"


def test_a_polling_session_gets_more_inactivity_than_polling() -> None:
    for attrs in ({"hold": 0}, {"wait": 0}):  # §12: either asks for a polling session
        session = new(Limits(max_inactivity=30, polling=5), **attrs)
        got = answered(session, 0.0)[100].attrib
        assert (got["hold"], got["requests"], got["inactivity"]) == ("0", "1", "36")


@pytest.mark.parametrize("attrs,condition", [
    ({"to": None}, "improper-addressing"),
    ({"to": "example.net"}, "host-unknown"),
    ({"to": "user@localhost"}, "host-unknown"),
    ({"ver": "one"}, "bad-request"),
    ({"wait": "-1"}, "bad-request"),
])
def test_creation_errors(attrs: dict, condition: str) -> None:
    create = {"rid": 1, "to": "localhost", "ver": "1.11", **attrs}
    with pytest.raises(BoshError) as exc:
        BoshSession("SID", req(**create), Limits(), 0.0, is_local_domain=lambda d: d == "localhost")
    assert exc.value.condition == condition


# -- holding and answering (§8) -------------------------------------------------------------

def test_a_held_request_is_answered_when_output_arrives_or_after_wait() -> None:
    session = created(wait=10)
    assert session.receive(req(rid=101, sid="SID"), 1.0).feed == []
    assert session.due(1.0) == [] and session.deadline() == 11.0
    session.push(MSG)
    assert [(rid, r.body) for rid, r in session.due(2.0)] == [
        (101, b"<body xmlns=\"http://jabber.org/protocol/httpbind\">" + MSG + b"</body>")]
    session.receive(req(rid=102, sid="SID"), 3.0)
    assert session.due(12.9) == []
    assert [(rid, etree.fromstring(r.body).attrib) for rid, r in session.due(13.0)] == [(102, {})]


def test_a_new_request_releases_the_older_one_beyond_hold() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    out = session.receive(req("<presence xmlns='jabber:client'/>", rid=102, sid="SID"), 1.5)
    assert out.feed == [b"<presence xmlns=\"jabber:client\"/>"] and out.reply is None
    session.push(MSG)  # the stream answers while 102 is processed: the oldest carries it
    assert [(rid, len(el)) for rid, el in answered(session, 1.6).items()] == [(101, 1)]
    assert list(session.held) == [102]


# -- rid order, window, retransmission (§14) ---------------------------------------------------

def test_requests_are_fed_in_rid_order() -> None:
    session = created(hold=1)  # requests = 2: the window is 101..102
    first = session.receive(req("<iq xmlns='jabber:client' id='b'/>", rid=102, sid="SID"), 1.0)
    assert first.feed == [] and first.reply is None  # waits for 101
    second = session.receive(req("<iq xmlns='jabber:client' id='a'/>", rid=101, sid="SID"), 1.1)
    assert second.feed == [b"<iq xmlns=\"jabber:client\" id=\"a\"/>", b"<iq xmlns=\"jabber:client\" id=\"b\"/>"]
    assert list(answered(session, 1.2)) == [101] and list(session.held) == [102]


def test_a_rid_beyond_the_window_ends_the_session() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    out = session.receive(req(rid=104, sid="SID"), 1.0)
    assert out.reply == bosh.terminal_response("item-not-found")
    assert [(rid, el.get("condition")) for rid, el in answered(session, 1.0).items()] == [(101, "other-request")]
    assert session.is_finished
    assert session.receive(req(rid=102, sid="SID"), 2.0).reply == bosh.terminal_response("item-not-found")


def test_a_repeated_rid_gets_the_same_response_again() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.push(MSG)
    [(_, original)] = session.due(1.0)
    assert session.receive(req(rid=101, sid="SID"), 2.0).reply == original
    creation = session.receive(req(rid=100, sid="SID"), 2.0).reply
    assert creation is not None and etree.fromstring(creation.body).get("sid") == "SID"
    # Without acks the cache holds 'requests' (2) responses: older ones are gone (§14.3).
    for rid in (102, 103):
        session.receive(req(rid=rid, sid="SID"), 3.0)
        session.push(MSG)
        session.due(3.0)
    assert sorted(session.cache) == [102, 103]
    assert session.receive(req(rid=101, sid="SID"), 4.0).reply == bosh.terminal_response("item-not-found")
    assert session.is_finished


def test_a_repeated_rid_still_held_supersedes_the_first_request() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    out = session.receive(req(rid=101, sid="SID"), 2.0)
    assert out.reply is None and etree.fromstring(out.superseded.body).get("type") == "error"  # §17.3
    session.push(MSG)
    assert [(rid, len(el)) for rid, el in answered(session, 2.0).items()] == [(101, 1)]


def test_an_abandoned_request_carries_nothing() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.abandon(101)
    assert session.due(1.5) == []  # nothing to send it through
    session.push(MSG)
    assert session.receive(req(rid=101, sid="SID"), 2.0).reply.body == bosh.body_bytes({})
    session.receive(req(rid=102, sid="SID"), 2.0)
    assert [(rid, len(el)) for rid, el in answered(session, 2.0).items()] == [(102, 1)]


# -- acknowledgements (§9) ----------------------------------------------------------------------

def test_acknowledgements() -> None:
    session = new(Limits(max_hold=2, report_after=1.0), hold=2, ack=1)
    assert answered(session, 0.0)[100].get("ack") == "100"  # §9.1: we acknowledge too
    presence = "<presence xmlns='jabber:client'/>"
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.receive(req(rid=102, sid="SID"), 1.0)
    session.receive(req(presence, rid=103, sid="SID", ack=100), 1.0)
    # 101 is answered while 102 and 103 are in: 'ack' says the highest rid received in order.
    assert {rid: el.get("ack") for rid, el in answered(session, 1.0).items()} == {101: "103"}
    session.push(MSG)
    assert {rid: el.get("ack") for rid, el in answered(session, 1.1).items()} == {102: "103"}
    assert sorted(session.cache) == [101, 102]
    # The client says it has 101 only: 102 stays cached; after report_after it is reported (§9.2).
    session.receive(req(rid=104, sid="SID", ack=101), 1.5)
    assert sorted(session.cache) == [102] and session.report is None
    session.receive(req(presence, rid=105, sid="SID", ack=101), 3.0)
    got = answered(session, 3.0)
    assert [(rid, el.get("report"), el.get("time")) for rid, el in got.items()] == [(103, "102", "1900")]
    # A request without 'ack' acknowledges every earlier response.
    session.receive(req(presence, rid=106, sid="SID"), 4.0)
    assert all(rid >= 106 for rid in session.cache)


# -- pause (§10), inactivity, terminate (§13) ---------------------------------------------------------

def test_pause_answers_everything_and_stretches_inactivity() -> None:
    session = created(Limits(max_inactivity=10, max_pause=60))
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.push(MSG)
    session.receive(req(rid=102, sid="SID", pause=120), 1.0)  # more than maxpause: clamped
    got = answered(session, 1.0)
    assert [(rid, len(el)) for rid, el in got.items()] == [(101, 1), (102, 0)]  # §10: pause carries nothing
    assert 102 not in session.cache and session.deadline() == 61.0
    assert not session.is_expired(60.9) and session.is_expired(61.0)
    session.receive(req(rid=103, sid="SID"), 30.0)  # back to normal with the next request
    session.due(60.0)
    assert session.deadline() == 70.0


def test_inactivity_counts_from_the_last_answer_and_a_missing_rid_does_not_keep_it_alive() -> None:
    session = created(Limits(max_inactivity=10))
    assert session.deadline() == 10.0 and not session.is_expired(9.9) and session.is_expired(10.0)
    session.receive(req(rid=102, sid="SID"), 5.0)  # 101 never comes
    assert session.is_expired(10.0)


def test_terminate_feeds_the_payload_then_closes_the_stream() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    out = session.receive(req("<presence xmlns='jabber:client' type='unavailable'/>", rid=102, sid="SID",
                              type="terminate"), 2.0)
    assert out.feed == [b"<presence xmlns=\"jabber:client\" type=\"unavailable\"/>", bosh.STREAM_CLOSE]
    session.push(MSG)
    session.stream_closed()
    got = answered(session, 2.0)
    # §13: the oldest request hears of the end (with what was left), the others get empty bodies.
    assert [(rid, el.get("type"), len(el)) for rid, el in got.items()] == [(101, "terminate", 1), (102, None, 0)]
    assert session.is_finished and not session.push(MSG)


def test_a_stream_error_is_a_remote_stream_error() -> None:
    session = created()
    session.push(b"<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"><conflict "
                 b"xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>")
    session.stream_closed()
    assert session.due(1.0) == [] and not session.is_finished  # nobody to tell yet
    reply = session.receive(req(rid=101, sid="SID"), 2.0).reply
    el = etree.fromstring(reply.body)
    assert (el.get("type"), el.get("condition"), el[0].tag) == ("terminate", "remote-stream-error",
                                                              ns.q(ns.STREAM, "error"))
    assert session.is_finished


def test_server_shutdown() -> None:
    session = created()
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.shutdown()
    assert [(rid, el.get("condition")) for rid, el in answered(session, 1.0).items()] == [(101, "system-shutdown")]


def test_restart_opens_a_new_stream_and_ignores_its_payload() -> None:
    session = created()
    out = session.receive(req("<presence xmlns='jabber:client'/>", rid=101, sid="SID", xmpp_restart="true",
                              to="localhost", xml_lang="fr"), 1.0)
    assert out.feed == [b"<stream:stream xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\""
                        b" to=\"localhost\" version=\"1.0\" xml:lang=\"fr\">"]


# -- overactivity and polling (§11, §12) -----------------------------------------------------------------

def test_too_many_simultaneous_requests() -> None:
    session = created()
    session.receive(req("<presence xmlns='jabber:client'/>", rid=101, sid="SID"), 1.0)
    session.receive(req("<presence xmlns='jabber:client'/>", rid=102, sid="SID"), 1.0)
    assert session.receive(req(rid=103, sid="SID", type="terminate"), 1.0).reply is None  # one extra to end
    session = created()
    session.receive(req("<presence xmlns='jabber:client'/>", rid=101, sid="SID"), 1.0)
    session.receive(req("<presence xmlns='jabber:client'/>", rid=102, sid="SID"), 1.0)
    out = session.receive(req("<presence xmlns='jabber:client'/>", rid=103, sid="SID"), 1.0)
    assert out.reply == bosh.terminal_response("policy-violation")


def test_empty_requests_more_often_than_polling() -> None:
    session = created(Limits(polling=2))
    session.receive(req(rid=101, sid="SID"), 1.0)
    assert session.receive(req(rid=102, sid="SID"), 1.5).reply == bosh.terminal_response("policy-violation")
    session = created(Limits(polling=2))
    session.receive(req(rid=101, sid="SID"), 1.0)
    assert session.receive(req(rid=102, sid="SID"), 3.5).reply is None  # slow enough


def test_a_polling_session_polls_no_faster_than_polling() -> None:
    session = created(Limits(polling=2), hold=0)
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.push(MSG)
    assert [len(el) for el in answered(session, 1.0).values()] == [1]
    session.receive(req(rid=102, sid="SID"), 1.2)  # too soon, but the previous answer carried a payload
    assert [len(el) for el in answered(session, 1.2).values()] == [0]
    # §12: two empty requests within 'polling' and an empty answer to the first: too often.
    assert session.receive(req(rid=103, sid="SID"), 1.4).reply == bosh.terminal_response("policy-violation")
    session = created(Limits(polling=2), hold=0)
    session.receive(req(rid=101, sid="SID"), 1.0)
    session.due(1.0)
    assert session.receive(req(rid=102, sid="SID"), 3.0).reply is None


# -- key sequencing (§15) and legacy clients (§17.1) ------------------------------------------------------

def test_key_sequencing() -> None:
    keys = ["seed"]
    for _ in range(4):
        keys.append(hashlib.sha1(keys[-1].encode()).hexdigest())
    new_seq = hashlib.sha1(b"other").hexdigest()
    session = created(newkey=keys[4])
    steps = [{"key": keys[3]}, {"key": keys[2], "newkey": hashlib.sha1(new_seq.encode()).hexdigest()},
             {"key": new_seq.upper()}]  # keys compare case-insensitively
    for rid, attrs in enumerate(steps, start=101):
        session.receive(req(rid=rid, sid="SID", **attrs), float(rid))
        session.push(MSG)
        assert [el.get("type") for el in answered(session, float(rid)).values()] == [None]
    session.receive(req(rid=104, sid="SID", key=keys[1]), 104.0)  # the old sequence is over
    assert [(rid, el.get("condition")) for rid, el in answered(session, 104.0).items()] == [(104, "item-not-found")]


def test_a_legacy_client_gets_http_error_codes() -> None:
    session = created(ver=None)
    assert "ver" not in etree.fromstring(session.cache[100][0].body).attrib
    assert session.receive(req(rid=150, sid="SID"), 1.0).reply.status == 404
