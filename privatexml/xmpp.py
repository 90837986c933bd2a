"""XEP-0049: Private XML Storage.

IQ handlers:
  iq-get/self jabber:iq:private:query  one child naming a namespace (§2.3): the elements
      stored under it, or the requested child as it came when nothing is stored.
  iq-set/self jabber:iq:private:query  store the children, replacing what each of their
      namespaces held (several elements of one namespace are kept together, §2.3).
  iq-get/bare, iq-set/bare             another user's data: <forbidden/> (§2.3, §4).
Errors (§3, type modify): <not-acceptable/> for a query without a child, a get naming more
than one, a child in no namespace or in a reserved one ('jabber:*', 'http://jabber.org/*',
'vcard-temp'), and a set that would take the account past XMPP_PRIVATE_QUOTA bytes.
XEP-0048 bookmarks (`storage:bookmarks`) are stored as any private data, then mirrored to PEP
`storage:bookmarks` and XEP-0402 `urn:xmpp:bookmarks:1` (`privatexml.sync`, XEP-0402 §5.3).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from lxml import etree

from privatexml import actions
from privatexml.sync import BookmarkSync
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza, iq_result
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

_QUERY = ns.q(ns.PRIVATE, "query")
_PARSER = actions.PARSER
RESERVED_PREFIXES = ("jabber:", "http://jabber.org/")
RESERVED = frozenset({ns.VCARD})


def namespace_of(el: etree._Element) -> str:
    """The namespace a stored fragment is filed under; not-acceptable when it may not be."""
    if not isinstance(el.tag, str):
        raise StanzaError("not-acceptable", "only elements may be stored")
    namespace = etree.QName(el).namespace
    if not namespace:
        raise StanzaError("not-acceptable", "the stored element needs its own namespace")
    if namespace in RESERVED or namespace.startswith(RESERVED_PREFIXES):
        raise StanzaError("not-acceptable", f"{namespace} is a reserved namespace")  # §3
    return namespace


def _elements(query: etree._Element) -> list[etree._Element]:
    return [child for child in query if not isinstance(child, etree._Comment)
            and not isinstance(child, etree._ProcessingInstruction)]


class PrivateStorage:
    def __init__(self, server: "Server", quota: int, sync: BookmarkSync) -> None:
        self.server = server
        self.quota = quota
        self.sync = sync

    async def get(self, stanza: Stanza) -> etree._Element:
        owner = stanza.from_.bare
        children = _elements(stanza.payload)
        if len(children) != 1:  # §2.3: one namespace per get
            raise StanzaError("not-acceptable", "name exactly one namespace to retrieve")
        asked = children[0]
        xml = await db(actions.get_fragment, owner.local, owner.domain, namespace_of(asked))
        query = etree.Element(_QUERY, nsmap={None: ns.PRIVATE})
        if xml is None:
            query.append(copy.deepcopy(asked))  # nothing stored: the empty element back
        else:
            for el in etree.fromstring(xml, _PARSER):
                query.append(el)
        return iq_result(stanza, query)

    async def set(self, stanza: Stanza) -> etree._Element | bool:
        owner = stanza.from_.bare
        children = _elements(stanza.payload)
        if not children:  # §2.3: at least one child
            raise StanzaError("not-acceptable", "nothing to store")
        grouped: dict[str, list[etree._Element]] = {}
        for child in children:
            grouped.setdefault(namespace_of(child), []).append(child)
        fragments = {namespace: actions.wrap(elements) for namespace, elements in grouped.items()}
        try:
            bookmarks = await db(actions.do_store_synced, owner.local, owner.domain, fragments, self.quota)
        except actions.QuotaExceeded as err:
            raise StanzaError("not-acceptable", str(err)) from None
        self.server.router.reply(stanza, iq_result(stanza))
        if bookmarks is not None:  # XEP-0402 §5.3.2, after the answer
            await self.sync.legacy_replaced(str(owner), *bookmarks, to_legacy_pep=True)
        return True

    @staticmethod
    async def forbidden(stanza: Stanza) -> etree._Element:
        raise StanzaError("forbidden", "private data belongs to its owner only")  # §2.3, §4


def load(server: "Server") -> "Module":
    from django.conf import settings

    quota = int(getattr(settings, "XMPP_PRIVATE_QUOTA", 1024 * 1024))
    module = server.module(
        "privatexml", xep="XEP-0049", title="Private XML Storage", version="1.2", status="complete",
        notes=f"own data only; reserved namespaces refused; {quota} bytes per account "
              f"(XMPP_PRIVATE_QUOTA)")
    server.module("bookmarks", xep="XEP-0048", title="Bookmarks", version="1.2", status="complete",
                  notes="in private XML storage and in PEP storage:bookmarks, kept in step")
    compat = server.module("bookmarks2", xep="XEP-0402", title="PEP Native Bookmarks", version="1.2.0",
                           status="complete", notes="#compat and #compat-pep: private storage, "
                                                    "storage:bookmarks and urn:xmpp:bookmarks:1 in step")
    sync = BookmarkSync(server, quota)
    compat.hook("pep/item-changed", sync.on_pep_change)
    compat.hook("disco/info/bare", sync.info)
    storage = PrivateStorage(server, quota, sync)
    module.iq("get", ns.PRIVATE, "query", storage.get, scope="self")
    module.iq("set", ns.PRIVATE, "query", storage.set, scope="self")
    module.iq("get", ns.PRIVATE, "query", storage.forbidden, scope="bare")
    module.iq("set", ns.PRIVATE, "query", storage.forbidden, scope="bare")
    return module
