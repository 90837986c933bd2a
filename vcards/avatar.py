"""XEP-0153: vCard-Based Avatars — the server advertises the avatar hash in presence.

As ejabberd's mod_vcard_xupdate does: the server knows the account's vCard (vcards.xmpp), so
it puts `<x xmlns='vcard-temp:x:update'><photo>SHA-1 of the PHOTO BINVAL</photo></x>` in
every available presence its users send (broadcast and directed), replacing the client's own
(§4.1: an empty <photo/> when the vCard has no photo; a client not ready yet, <x/> without
<photo/>, gets the server's hash). The hash is read with the login's prefetch and kept in
memory per logged-in account: no database query on the presence path.

Hooks handled:
  auth/success (prefetch)            read the account's photo hash with the login's reads
  session/bound, session/closed      keep the hash while the account has a resource
  vcard/changed (owner bare, vCard)  a new vCard: a new hash, and the available resources'
                                     presence sent again with it (§4.2: contacts learn it)
  pre-presence/{broadcast,bare,full} stamp the hash into available presence
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from typing import TYPE_CHECKING, Any

from lxml import etree

from vcards import actions
from xmppcore import ns
from xmppcore.jid import JID
from xmppcore.stanza import Stanza
from xmppd.origin import CLIENT
from xmppd.sessions import Session
from xmppd.storage import PREFETCH, Prefetch, db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

MODULE = "vcards.avatar"
_X = ns.q(ns.VCARD_UPDATE, "x")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def photo_hash(vcard: etree._Element | None) -> str:
    """§2: the hex SHA-1 of the decoded PHOTO/BINVAL; "" when there is no (usable) photo."""
    if vcard is None:
        return ""
    binval = vcard.findtext(f"{ns.q(ns.VCARD, 'PHOTO')}/{ns.q(ns.VCARD, 'BINVAL')}")
    if not binval or not binval.strip():
        return ""
    try:
        data = base64.b64decode("".join(binval.split()), validate=True)
    except (binascii.Error, ValueError):
        return ""
    return hashlib.sha1(data).hexdigest() if data else ""


def _read_hash(username: str, domain: str) -> str:
    """DB thread: the photo hash of the stored vCard."""
    xml = actions.get_vcard(username, domain)
    return photo_hash(etree.fromstring(xml, _PARSER) if xml else None)


def stamp(el: etree._Element, digest: str) -> None:
    """Replace any vcard-temp:x:update child by the server's (§3)."""
    for old in el.findall(_X):
        el.remove(old)
    x = etree.SubElement(el, _X, nsmap={None: ns.VCARD_UPDATE})
    photo = etree.SubElement(x, ns.q(ns.VCARD_UPDATE, "photo"))
    if digest:
        photo.text = digest


class Avatars:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.hashes: dict[JID, str] = {}  # bare JID of an account with a local resource -> hash

    def prefetch(self, username: str, domain: str, _driver: Any, prefetch: Prefetch) -> None:
        if JID(username, domain, None) not in self.hashes:
            prefetch.add(MODULE, _read_hash, username, domain)

    async def bound(self, session: Session) -> None:
        if session.bare in self.hashes:
            return
        prefetch: Prefetch | None = session.data.get(PREFETCH)
        digest = prefetch.take(MODULE) if prefetch is not None else None
        if digest is None:  # not prefetched (or the read failed): read it now, before presence
            digest = await db(_read_hash, session.bare.local, session.bare.domain)
        self.hashes.setdefault(session.bare, digest)

    def closed(self, session: Session, *_: Any) -> None:
        if not self.server.sessions.resources(session.bare):
            self.hashes.pop(session.bare, None)

    def presence(self, stanza: Stanza) -> None:
        """pre-presence/*: an available presence of a local user carries the server's hash."""
        session = stanza.origin
        if session is None or session.kind != CLIENT or stanza.type is not None:
            return None
        digest = self.hashes.get(session.bare)
        if digest is not None:
            stamp(stanza.el, digest)
        return None

    async def changed(self, owner: JID, vcard: etree._Element) -> None:
        """vcard/changed: a new hash; §4.2 the resources' presence goes out again with it."""
        digest = photo_hash(vcard)
        if owner not in self.hashes or self.hashes[owner] == digest:
            return
        self.hashes[owner] = digest
        for session in self.server.sessions.resources(owner):
            if isinstance(session, Session) and session.is_available and session.presence is not None:
                again = copy.deepcopy(session.presence)
                for attr in ("to", "from"):
                    again.attrib.pop(attr, None)
                await self.server.router.route_from_client(again, session)


def load(server: "Server") -> "Module":
    module = server.module(
        "avatars", xep="XEP-0153", title="vCard-Based Avatars", version="1.1.1", status="complete",
        notes="the server stamps the photo hash of the stored vCard into its users' presence")
    avatars = Avatars(server)
    module.hook("auth/success", avatars.prefetch)
    module.hook("session/bound", avatars.bound)
    module.hook("session/closed", avatars.closed)
    module.hook("vcard/changed", avatars.changed)
    for target in ("broadcast", "bare", "full"):
        module.hook(f"pre-presence/{target}", avatars.presence)
    return module
