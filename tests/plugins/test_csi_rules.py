"""XEP-0352 engine (plugins/csi.py) without sockets: what is important, what replaces what,
and the queue as an outbound filter of a real Session."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from plugins.csi import CsiQueue, hold_key, is_chat_state_only, is_important
from xmppcore.jid import JID
from xmppd.sessions import Session

C = "jabber:client"
NICKS = {"room@conference.localhost": "Juliet"}


def el(xml: str) -> etree._Element:
    return etree.fromstring(xml.replace("<message", f"<message xmlns='{C}'", 1)
                            .replace("<presence", f"<presence xmlns='{C}'", 1)
                            .replace("<iq ", f"<iq xmlns='{C}' ", 1))


IMPORTANT = [
    "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<presence type='subscribe' from='bob@localhost'/>",
    "<message type='chat'><body>hi</body></message>",
    "<message><body>normal</body></message>",
    "<message type='error'><error type='cancel'/></message>",
    "<message type='chat'><body>?OTR:AAMD</body></message>",  # OTR rides in the body
    "<message type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>",
    "<message type='chat'><encrypted xmlns='urn:xmpp:omemo:2'/></message>",
    "<message type='chat'><openpgp xmlns='urn:xmpp:openpgp:0'>BASE64</openpgp></message>",
    "<message><x xmlns='jabber:x:encrypted'>PGP</x></message>",
    "<message><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>",
    "<message><x xmlns='jabber:x:conference' jid='room@conference.localhost'/></message>",
    "<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@localhost'/></x></message>",
    "<message type='groupchat' from='room@conference.localhost/bob'><subject>news</subject></message>",
    "<message type='groupchat' from='room@conference.localhost/bob'><body>hey juliet!</body></message>",
    "<message type='groupchat' from='other@conference.localhost/bob'><body>unknown nick</body></message>",
    "<message from='alice@localhost'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
    "<message xmlns='jabber:client' type='chat'><body>carbon</body></message></forwarded></received></message>",
]
HELD = [
    "<presence from='bob@localhost/pc'/>",
    "<presence from='bob@localhost/pc' type='unavailable'/>",
    "<presence from='bob@localhost/pc' type='error'/>",
    "<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<message type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/></message>",
    "<message type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/></message>",
    "<message type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>",
    "<message type='headline'><body>even with a body</body></message>",
    "<message type='groupchat' from='room@conference.localhost/bob'><body>no mention</body></message>",
    "<message from='alice@localhost'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
    "<message xmlns='jabber:client' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/>"
    "</message></forwarded></sent></message>",
]


@pytest.mark.parametrize("xml", IMPORTANT)
def test_important(xml: str) -> None:
    assert is_important(el(xml), NICKS.get) is True


@pytest.mark.parametrize("xml", HELD)
def test_held(xml: str) -> None:
    assert is_important(el(xml), NICKS.get) is False


def test_chat_state_only() -> None:
    assert is_chat_state_only(el("<message><active xmlns='http://jabber.org/protocol/chatstates'/>"
                                 "<thread>t</thread><no-store xmlns='urn:xmpp:hints'/></message>"))
    assert not is_chat_state_only(el("<message><active xmlns='http://jabber.org/protocol/chatstates'/>"
                                     "<body>x</body></message>"))
    assert not is_chat_state_only(el("<message><received xmlns='urn:xmpp:receipts' id='1'/></message>"))


def test_keys_replace_presence_and_chat_states_per_contact() -> None:
    a1, a2 = el("<presence from='bob@localhost/pc'/>"), el("<presence from='bob@localhost/pc' type='unavailable'/>")
    other = el("<presence from='bob@localhost/phone'/>")
    assert hold_key(a1, 1) == hold_key(a2, 2) != hold_key(other, 3)
    typing = "<message from='bob@localhost/pc' to='a@localhost/r'><{} xmlns='http://jabber.org/protocol/chatstates'/></message>"
    assert hold_key(el(typing.format("composing")), 1) == hold_key(el(typing.format("paused")), 2)
    receipt = el("<message from='bob@localhost/pc'><received xmlns='urn:xmpp:receipts' id='1'/></message>")
    assert hold_key(receipt, 1) != hold_key(receipt, 2)


def _session() -> tuple[Session, list[bytes]]:
    written: list[bytes] = []

    def writer(data: bytes) -> bool:
        written.append(data)
        return True
    return Session(JID.parse("juliet@localhost/r"), writer, lambda _: None), written


def test_queue_holds_replaces_and_flushes_in_order_before_the_important_one() -> None:
    session, written = _session()
    counted: list[bytes] = []

    def counter(_: Any, data: bytes, __: Any) -> bytes:  # stands for XEP-0198 counting after CSI
        counted.append(data)
        return data
    queue = CsiQueue(10, {})
    session.outbound = (queue, counter)
    p1 = b"<presence xmlns='jabber:client' from='bob@localhost/pc'><status>1</status></presence>"
    p2 = b"<presence xmlns='jabber:client' from='bob@localhost/pc'><status>2</status></presence>"
    r = b"<message xmlns='jabber:client' from='carol@localhost/x'><received xmlns='urn:xmpp:receipts' id='1'/></message>"
    body = b'<message xmlns="jabber:client" from="carol@localhost/x"><body>wake up</body></message>'
    for data in (p1, r, p2):
        assert session.send_bytes(data) is True
    assert written == [] and counted == []  # held ones are not counted yet
    assert session.send(etree.fromstring(body)) is True
    assert written == [r, p2, body] == counted  # p2 replaced p1 and took its place at the end


def test_a_full_queue_is_flushed() -> None:
    session, written = _session()
    session.outbound = (CsiQueue(3, {}),)
    receipts = [f"<message xmlns='jabber:client' from='c@localhost/{i}'><received xmlns='urn:xmpp:receipts' id='{i}'/>"
                f"</message>".encode() for i in range(4)]
    for data in receipts[:2]:
        session.send_bytes(data)
    assert written == []
    session.send_bytes(receipts[2])
    assert written == receipts[:3]
    session.send_bytes(receipts[3])
    assert written == receipts[:3]


def test_unparsable_bytes_are_not_held() -> None:
    session, written = _session()
    session.outbound = (CsiQueue(3, {}),)
    session.send_bytes(b"<presence xmlns='jabber:client' from='b@localhost/x'/>")
    session.send_bytes(b"not xml")
    assert written == [b"<presence xmlns='jabber:client' from='b@localhost/x'/>", b"not xml"]


def _presence(session: Session, to: str, xml: str = "", type_: str | None = None) -> Any:
    from xmppcore.stanza import Stanza

    el = etree.fromstring(f"<presence xmlns='{C}' to='{to}'>{xml}</presence>")
    if type_:
        el.set("type", type_)
    return Stanza(el, "presence", JID.parse(to), session.jid, session)


def test_nicks_follow_joins_changes_and_leaves() -> None:
    from plugins.csi import NICKS, ClientState

    session, _ = _session()
    room = "room@conference.localhost"
    join = "<x xmlns='http://jabber.org/protocol/muc'/>"
    ClientState.track_nick(_presence(session, f"{room}/Romeo"))  # not joined: nothing known
    assert NICKS not in session.data
    ClientState.track_nick(_presence(session, f"{room}/Juliet", join))
    assert session.data[NICKS] == {room: "Juliet"}
    ClientState.track_nick(_presence(session, f"{room}/JC"))  # XEP-0045 §7.6 nick change
    assert session.data[NICKS] == {room: "JC"}
    ClientState.track_nick(_presence(session, f"{room}/Juliet", type_="unavailable"))  # not our nick
    assert session.data[NICKS] == {room: "JC"}
    ClientState.track_nick(_presence(session, f"{room}/JC", type_="unavailable"))  # §7.14 leave
    assert session.data[NICKS] == {}


def test_what_a_flush_cannot_write_is_handed_back() -> None:
    """The transport died before the client was told (no XEP-0198 behind): the held stanzas
    go to `lost` (the module routes them again), the important one is refused as usual."""
    lost: list[list[bytes]] = []
    session = Session(JID.parse("juliet@localhost/r"), lambda _: False, lambda _: None)
    session.outbound = (CsiQueue(10, {}, lost.append),)
    receipt = b"<message xmlns='jabber:client' from='c@localhost/x'><received xmlns='urn:xmpp:receipts' id='1'/></message>"
    assert session.send_bytes(receipt) is True  # held
    assert session.send_bytes(b"<message xmlns='jabber:client'><body>hi</body></message>") is False
    assert lost == [[receipt]]
