"""XEP-0054: vcard-temp.

IQ handlers:
  iq-get/self vcard-temp:vCard  the user's own vCard (§3.1; no 'to' or the own bare JID,
      RFC 6120 §10.3.3), or an empty <vCard/> when none was published (§3.1 allows it).
  iq-set/self vcard-temp:vCard  publish or replace the own vCard (§3.2); larger than
      MAX_VCARD_BYTES serialized -> <policy-violation/> (RFC 6120 §8.3.3.12, type modify).
  iq-get/bare vcard-temp:vCard  another local user's vCard (§3.3; anyone may read, as
      Prosody and ejabberd allow); <service-unavailable/> when no such account exists
      (RFC 6121 §8.5.2.2.3).
  iq-set/bare vcard-temp:vCard  <forbidden/>: nobody edits someone else's vCard.
Hooks fired: account/exists (username, domain); vcard/changed (owner bare JID, <vCard/>) once
a new vCard is stored (vcards.avatar: XEP-0153).
Disco feature: vcard-temp on the server (§4).
A deleted account's vCard is deleted with it (vcards.apps: post_delete of accounts.Account).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from lxml import etree

from vcards import actions
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

MAX_VCARD_BYTES = 64 * 1024
# Our own XML, read back from the database: still parsed with entities and network off.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_VCARD = ns.q(ns.VCARD, "vCard")


def empty_vcard() -> etree._Element:
    return etree.Element(_VCARD, nsmap={None: ns.VCARD})


def serialize(payload: etree._Element) -> str:
    """The <vCard/> alone, with only the namespace declarations it uses."""
    vcard = copy.deepcopy(payload)
    vcard.tail = None
    etree.cleanup_namespaces(vcard)
    return etree.tostring(vcard, encoding="unicode")


class VCards:
    def __init__(self, server: "Server") -> None:
        self.server = server

    async def get_own(self, stanza: Stanza) -> etree._Element:
        """§3.1: the requester's own vCard."""
        return iq_result(stanza, await self._load(stanza.from_.bare))

    async def set_own(self, stanza: Stanza) -> etree._Element:
        """§3.2: store the vCard as sent; the result is empty."""
        owner = stanza.from_.bare
        xml = serialize(stanza.payload)
        if len(xml.encode("utf-8")) > MAX_VCARD_BYTES:
            raise StanzaError("policy-violation", f"a vCard is limited to {MAX_VCARD_BYTES} bytes",
                              type_="modify")
        await db(actions.do_set_vcard, owner.local, owner.domain, xml)
        await self.server.hooks.fire_all("vcard/changed", owner, stanza.payload)  # XEP-0153
        return iq_result(stanza)

    async def get_other(self, stanza: Stanza) -> etree._Element:
        """§3.3: another user's vCard, read by the server on their behalf."""
        owner = stanza.to.bare
        if not await self.server.hooks.fire("account/exists", owner.local, owner.domain):
            raise StanzaError("service-unavailable")  # RFC 6121 §8.5.2.2.3
        return iq_result(stanza, await self._load(owner))

    async def set_other(self, stanza: Stanza) -> etree._Element:
        raise StanzaError("forbidden", "only the owner may change a vCard")

    async def _load(self, owner: JID) -> etree._Element:
        xml = await db(actions.get_vcard, owner.local, owner.domain)
        if xml is None:
            return empty_vcard()  # §3.1: an empty <vCard/> rather than an error
        return etree.fromstring(xml, _PARSER)


def load(server: "Server") -> "Module":
    module = server.module(
        "vcards", xep="XEP-0054", title="vcard-temp", version="1.3.0", status="complete",
        notes=f"own vCard get/set, other local users' vCards readable by anyone; "
              f"{MAX_VCARD_BYTES // 1024} KiB per vCard")
    vcards = VCards(server)
    module.iq("get", ns.VCARD, "vCard", vcards.get_own, scope="self")
    module.iq("set", ns.VCARD, "vCard", vcards.set_own, scope="self")
    module.iq("get", ns.VCARD, "vCard", vcards.get_other, scope="bare")
    module.iq("set", ns.VCARD, "vCard", vcards.set_other, scope="bare")
    module.add_feature(ns.VCARD)
    return module
