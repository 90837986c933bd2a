"""XEP-0153 (vcards/avatar.py): the server stamps the vCard photo's SHA-1 into presence."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from lxml import etree

from tests.rosters.helpers import expect, login, presence_from, subscribe_in_db
from tests.vcards.test_wire import iq_set
from vcards import actions
from vcards.avatar import photo_hash
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

UPDATE = "vcard-temp:x:update"
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
OTHER_IMAGE = b"GIF89a" + bytes(range(200))


def card(image: bytes | None) -> str:
    if image is None:
        return "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"
    b64 = base64.encodebytes(image).decode()  # with line breaks, as clients send it
    return (f"<vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE>"
            f"<BINVAL>{b64}</BINVAL></PHOTO></vCard>")


def photo_of(presence: Any) -> str | None:
    """The text of <x xmlns='vcard-temp:x:update'><photo/></x> ('' when empty), None without it."""
    xs = presence.xml.findall(f"{{{UPDATE}}}x")
    assert len(xs) <= 1, ET.tostring(presence.xml)
    if not xs:
        return None
    return xs[0].findtext(f"{{{UPDATE}}}photo")


def test_photo_hash() -> None:
    assert photo_hash(etree.fromstring(card(IMAGE))) == hashlib.sha1(IMAGE).hexdigest()
    assert photo_hash(etree.fromstring(card(None))) == ""
    assert photo_hash(None) == ""
    broken = card(IMAGE).replace("<BINVAL>", "<BINVAL>!!")
    assert photo_hash(etree.fromstring(broken)) == ""


async def _contacts(xmpp: Any) -> None:
    for name in ("alice", "bob"):
        await xmpp.add_user(name)
    await subscribe_in_db("bob", "alice")


async def test_presence_carries_the_stored_photo_hash(xmpp) -> None:
    await _contacts(xmpp)
    await db(actions.do_set_vcard, "alice", "localhost", card(IMAGE))
    bob = await login(xmpp, "bob", "pc")
    alice = await login(xmpp, "alice", "pc", presence=False)
    alice.send_presence(pstatus="here")
    seen = await expect(bob.presences, presence_from("alice@localhost/pc"))
    assert photo_of(seen) == hashlib.sha1(IMAGE).hexdigest()
    # A client's own (stale or "not ready") <x/> is replaced by the server's.
    pres = alice.make_presence(pstatus="again")
    pres.xml.append(ET.fromstring(f"<x xmlns='{UPDATE}'><photo>0000</photo></x>"))
    pres.send()
    seen = await expect(bob.presences, lambda p: p["status"] == "again")
    assert photo_of(seen) == hashlib.sha1(IMAGE).hexdigest()
    # The hash is the one read at login: a database change behind the server's back shows only
    # after a vCard set (no query on the presence path).
    await db(actions.do_set_vcard, "alice", "localhost", card(OTHER_IMAGE))
    alice.send_presence(pstatus="third")
    seen = await expect(bob.presences, lambda p: p["status"] == "third")
    assert photo_of(seen) == hashlib.sha1(IMAGE).hexdigest()


async def test_no_photo_is_an_empty_photo_element(xmpp) -> None:
    await _contacts(xmpp)
    bob = await login(xmpp, "bob", "pc")
    await login(xmpp, "alice", "pc")
    seen = await expect(bob.presences, presence_from("alice@localhost/pc"))
    assert photo_of(seen) == ""


async def test_a_new_vcard_sends_presence_again_with_its_hash(xmpp) -> None:
    await _contacts(xmpp)
    await db(actions.do_set_vcard, "alice", "localhost", card(None))
    bob = await login(xmpp, "bob", "pc")
    alice = await login(xmpp, "alice", "pc", status="with a new face")
    assert photo_of(await expect(bob.presences, presence_from("alice@localhost/pc"))) == ""
    reply = await iq_set(alice, None, card(OTHER_IMAGE))
    assert reply.get("type") == "result"
    seen = await expect(bob.presences, presence_from("alice@localhost/pc"))
    assert photo_of(seen) == hashlib.sha1(OTHER_IMAGE).hexdigest()
    assert seen["status"] == "with a new face"  # the same presence, with the new hash
