"""Private XML storage: the only functions that write `PrivateXML` rows, and their readers.

Synchronous ORM code; the XMPP module (`privatexml.xmpp`) calls them through
`xmppd.storage.db`, the admin calls them directly.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from privatexml.models import PrivateXML

log = logging.getLogger(__name__)


class QuotaExceeded(Exception):
    """The account would store more than its quota of private XML."""


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


# -- readers --------------------------------------------------------------------------

def get_fragment(username: str, domain: str, namespace: str) -> str | None:
    """The serialized elements stored under `namespace`, or None."""
    return (PrivateXML.objects.filter(username=username, domain=domain, namespace=namespace)
            .values_list("xml", flat=True).first())

