"""Private XML storage: the only functions that write `PrivateXML` rows, and their readers.

Synchronous ORM code; the XMPP module (`privatexml.xmpp`) calls them through
`xmppd.storage.db`, the admin calls them directly.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from lxml import etree

from privatexml import bookmarks
from privatexml.models import PrivateXML
from xmppcore import ns

log = logging.getLogger(__name__)


class QuotaExceeded(Exception):
    """The account would store more than its quota of private XML."""


_QUERY = ns.q(ns.PRIVATE, "query")
_STORAGE = ns.q(ns.BOOKMARKS, "storage")
# Our own XML, read back from the database: still parsed with entities and network off.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def wrap(elements: list[etree._Element]) -> str:
    """The elements of one namespace inside a <query/>, serialized for storage."""
    query = etree.Element(_QUERY, nsmap={None: ns.PRIVATE})
    for el in elements:
        stored = copy.deepcopy(el)
        stored.tail = None
        query.append(stored)
    etree.cleanup_namespaces(query)
    return etree.tostring(query, encoding="unicode")


# -- writers --------------------------------------------------------------------------

def do_store(username: str, domain: str, fragments: dict[str, str], quota: int) -> None:
    """Replace the account's data of each namespace of `fragments` (namespace -> serialized
    elements); QuotaExceeded, and nothing written, when the total would pass `quota` bytes
    (0: no limit). An empty string removes the namespace."""
    with transaction.atomic():
        rows = PrivateXML.objects.select_for_update().filter(username=username, domain=domain)
        sizes = dict(rows.values_list("namespace", "size"))
        for namespace, xml in fragments.items():
            sizes[namespace] = len(xml.encode("utf-8"))
        if quota and sum(sizes.values()) > quota:
            raise QuotaExceeded(f"private storage is limited to {quota} bytes per account")
        now = timezone.now()
        for namespace, xml in fragments.items():
            if not xml:
                rows.filter(namespace=namespace).delete()
                continue
            PrivateXML.objects.update_or_create(
                username=username, domain=domain, namespace=namespace,
                defaults={"xml": xml, "size": len(xml.encode("utf-8")), "updated_at": now})


def do_delete(username: str, domain: str, namespace: str | None = None) -> int:
    """Delete the account's data of `namespace` (None: all of it); the number of rows."""
    rows = PrivateXML.objects.filter(username=username, domain=domain)
    if namespace is not None:
        rows = rows.filter(namespace=namespace)
    deleted, _ = rows.delete()
    if deleted:
        log.info("deleted %d private XML namespace(s) of %s@%s", deleted, username, domain)
    return deleted


def on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of accounts.Account: drop the account's private XML in the same transaction."""
    do_delete(instance.username, instance.domain)


# -- bookmarks kept in step (XEP-0402 §5.3; privatexml.sync does the PEP side) ----------

def empty_storage() -> etree._Element:
    return etree.Element(_STORAGE, nsmap={None: ns.BOOKMARKS})


def _stored_storage(username: str, domain: str) -> etree._Element | None:
    xml = get_fragment(username, domain, ns.BOOKMARKS)
    return None if xml is None else etree.fromstring(xml, PARSER).find(_STORAGE)


def _text(storage: etree._Element | None) -> str | None:
    return None if storage is None else etree.tostring(storage, encoding="unicode")


def do_store_synced(username: str, domain: str, fragments: dict[str, str],
                    quota: int) -> tuple[str | None, str] | None:
    """`do_store`; when `storage:bookmarks` is among the fragments, the <storage/> it replaced
    (None: none) and the one now stored, serialized, for the PEP nodes to follow."""
    with transaction.atomic():
        before = _stored_storage(username, domain) if ns.BOOKMARKS in fragments else None
        do_store(username, domain, fragments, quota)
        if ns.BOOKMARKS not in fragments:
            return None
        after = _stored_storage(username, domain)
        return _text(before), _text(after if after is not None else empty_storage()) or ""


def do_replace_bookmarks(username: str, domain: str, storage: str, quota: int) -> str | None:
    """A legacy <storage/> from PEP `storage:bookmarks` into private storage; the one it
    replaced, serialized, or None. QuotaExceeded as `do_store`."""
    with transaction.atomic():
        before = _stored_storage(username, domain)
        do_store(username, domain, {ns.BOOKMARKS: wrap([etree.fromstring(storage, PARSER)])}, quota)
        return _text(before)


def do_merge_native(username: str, domain: str, items: list[tuple[str, str]], quota: int) -> str:
    """XEP-0402 §5.3.1: the `urn:xmpp:bookmarks:1` items (id, payload) collated into one legacy
    <storage/>, the stored <url/> bookmarks kept; stored in private storage and returned.
    QuotaExceeded as `do_store`."""
    native = []
    for item_id, payload in items:
        item = etree.Element(ns.q(ns.PUBSUB, "item"), id=item_id)
        if payload:
            item.append(etree.fromstring(payload, PARSER))
        native.append(item)
    with transaction.atomic():
        storage = bookmarks.to_legacy(native, keep=_stored_storage(username, domain))
        do_store(username, domain, {ns.BOOKMARKS: wrap([storage])}, quota)
    return etree.tostring(storage, encoding="unicode")


# -- readers --------------------------------------------------------------------------

def get_fragment(username: str, domain: str, namespace: str) -> str | None:
    """The serialized elements stored under `namespace`, or None."""
    return (PrivateXML.objects.filter(username=username, domain=domain, namespace=namespace)
            .values_list("xml", flat=True).first())

