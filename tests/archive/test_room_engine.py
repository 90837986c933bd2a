"""The room archive's pure parts: XEP-0425 retraction and tombstone shapes (no sockets)."""

from __future__ import annotations

from types import SimpleNamespace

from lxml import etree

from archive.rooms import moderated_by, retraction, tombstone

ROOM = "r@conference.localhost"
RETRACT, MODERATE = "urn:xmpp:message-retract:1", "urn:xmpp:message-moderate:1"
STORED = (f"<message xmlns='jabber:client' from='{ROOM}/Bob' type='groupchat' id='m1'><body>rude</body>"
          f"<html xmlns='http://jabber.org/protocol/xhtml-im'/><stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='U1'/>"
          "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='o-bob'/></message>")


def moderated() -> etree._Element:
    return moderated_by(ROOM, SimpleNamespace(nick="Alice", occupant_id="o-alice"))


def test_the_tombstone_keeps_the_envelope_and_ids_only() -> None:
    stone = tombstone(STORED, moderated(), "spam")
    assert (stone.get("from"), stone.get("id"), stone.get("type")) == (f"{ROOM}/Bob", "m1", "groupchat")
    assert [etree.QName(c).localname for c in stone] == ["stanza-id", "occupant-id", "retracted"]
    retracted = stone[-1]
    assert retracted.tag == f"{{{RETRACT}}}retracted" and retracted.get("stamp").endswith("Z")
    by = retracted.find(f"{{{MODERATE}}}moderated")
    assert by.get("by") == f"{ROOM}/Alice"
    assert by.find("{urn:xmpp:occupant-id:0}occupant-id").get("id") == "o-alice"
    assert retracted.findtext(f"{{{RETRACT}}}reason") == "spam"
    assert tombstone(STORED, moderated(), None)[-1].find(f"{{{RETRACT}}}reason") is None


def test_the_retraction_comes_from_the_room() -> None:
    msg = retraction(ROOM, "U1", moderated(), None)
    assert msg.get("from") == ROOM and msg.get("type") == "groupchat" and msg.get("id")
    retract = msg.find(f"{{{RETRACT}}}retract")
    assert retract.get("id") == "U1" and retract.find(f"{{{RETRACT}}}reason") is None
    assert retract.find(f"{{{MODERATE}}}moderated").get("by") == f"{ROOM}/Alice"
