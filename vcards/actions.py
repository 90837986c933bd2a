"""vCards: the only functions that write `VCard` rows, and their reader.

Synchronous ORM code; the XMPP module (`vcards.xmpp`) calls them through
`xmppd.storage.db`, the admin calls them directly.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from vcards.models import VCard

log = logging.getLogger(__name__)


# -- writers --------------------------------------------------------------------------

def do_set_vcard(username: str, domain: str, xml: str) -> None:
    """Store (replace) the user's serialized <vCard/>."""
    VCard.objects.update_or_create(username=username, domain=domain,
                                   defaults={"xml": xml, "updated_at": timezone.now()})


def do_delete_vcard(username: str, domain: str) -> bool:
    deleted, _ = VCard.objects.filter(username=username, domain=domain).delete()
    if deleted:
        log.info("deleted the vCard of %s@%s", username, domain)
    return bool(deleted)


def on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of accounts.Account: drop the account's vCard in the same transaction."""
    do_delete_vcard(instance.username, instance.domain)


# -- readers --------------------------------------------------------------------------

def get_vcard(username: str, domain: str) -> str | None:
    """The user's serialized <vCard/>, or None when they never published one."""
    return VCard.objects.filter(username=username, domain=domain).values_list("xml", flat=True).first()
