"""XEP-0425 Message Moderation on the wire: a moderator retracts an archived room message
by its stanza-id; the room broadcasts the XEP-0424 retraction, the archive keeps a tombstone."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.archive.wire import FORWARD, MAM, SID, mam, room_with_bob
from tests.clients import RawClient, raw_plain_login
from tests.muc.helpers import (CLIENT, OCC, error_condition, groupchat, instant_room, iq,
                               next_groupchat, q, take, user)

ROOM = "moderated@conference.localhost"
MODERATE = "urn:xmpp:message-moderate:1"
RETRACT = "urn:xmpp:message-retract:1"
LOGGED = {"muc#roomconfig_enablelogging": "1"}


def moderate(uid: str, reason: str = "") -> str:
    return (f"<moderate xmlns='{MODERATE}' id='{uid}'><retract xmlns='{RETRACT}'/>"
            + (f"<reason>{reason}</reason>" if reason else "") + "</moderate>")


async def test_a_moderator_retracts_an_archived_message(xmpp) -> None:
    alice, bob = await room_with_bob(xmpp, ROOM, LOGGED)
    await groupchat(bob, ROOM, "rude words")
    got = await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "body")) == "rude words")
    uid = got.find(q(SID, "stanza-id")).get("id")

    refused = await iq(bob, "set", ROOM, moderate(uid))  # a participant
    assert refused.get("type") == "error" and error_condition(refused) == "forbidden"
    unknown = await iq(alice, "set", ROOM, moderate("no-such-id"))
    assert unknown.get("type") == "error" and error_condition(unknown) == "item-not-found"
    bad = await iq(alice, "set", ROOM, f"<moderate xmlns='{MODERATE}' id='{uid}'/>")
    assert error_condition(bad) == "bad-request"

    done = await iq(alice, "set", ROOM, moderate(uid, "Spam"))
    assert done.get("type") == "result", ET.tostring(done)
    for client in (alice, bob):
        msg = await take(client.messages, lambda m: m.find(q(RETRACT, "retract")) is not None)
        assert msg.get("from") == ROOM and msg.get("type") == "groupchat"
        retract = msg.find(q(RETRACT, "retract"))
        assert retract.get("id") == uid and retract.findtext(q(RETRACT, "reason")) == "Spam"
        moderated = retract.find(q(MODERATE, "moderated"))
        assert moderated.get("by") == f"{ROOM}/Alice"
        assert moderated.find(q(OCC, "occupant-id")).get("id")

    results, _ = await mam(bob, to=ROOM)
    assert len(results) == 1
    stone = results[0].find(f"{q(MAM, 'result')}/{q(FORWARD, 'forwarded')}/{q(CLIENT, 'message')}")
    assert stone.find(q(CLIENT, "body")) is None and stone.get("from") == f"{ROOM}/Bob"
    retracted = stone.find(q(RETRACT, "retracted"))
    assert retracted is not None and retracted.get("stamp")
    assert retracted.find(q(MODERATE, "moderated")).get("by") == f"{ROOM}/Alice"
    assert stone.find(q(SID, "stanza-id")).get("id") == uid


async def test_moderation_over_a_raw_stream(xmpp) -> None:
    """A client without slixmpp: the error is on the wire as RFC 6120 §8.3 says."""
    alice = await user(xmpp, "alice")
    await xmpp.add_user("carol")
    await instant_room(alice, ROOM, "Alice", LOGGED)
    await groupchat(alice, ROOM, "kept")
    got = await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "body")) == "kept")
    uid = got.find(q(SID, "stanza-id")).get("id")
    raw = await RawClient.open(xmpp.host, xmpp.port)
    try:
        await raw_plain_login(raw, "carol")
        raw.send(f"<iq type='set' id='m1' to='{ROOM}'>{moderate(uid)}</iq>")  # not an occupant
        answer = (await raw.read_until(rb"</iq>")).decode()
        assert "type='error'" in answer or 'type="error"' in answer
        assert "<forbidden xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"" in answer.replace("'", '"')
    finally:
        raw.close()
    results, _ = await mam(alice, to=ROOM)
    assert [r.find(f".//{q(CLIENT, 'body')}").text for r in results] == ["kept"]
