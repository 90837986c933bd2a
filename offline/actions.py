"""Offline messages: the only functions that write `OfflineMessage` rows, and their readers.

Synchronous ORM code; the XMPP module (`offline.xmpp`) calls them through
`xmppd.storage.db`, the admin calls them directly.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Count, Q

from xmppd.storage import select
from offline.models import OfflineMessage

log = logging.getLogger(__name__)


# -- writers --------------------------------------------------------------------------

def do_store_message(username: str, domain: str, sender: str, stanza: str, quota: int,
                     per_sender: int = 0) -> bool:
    """Append a serialized <message/> to the user's store; False when `quota` is reached, or
    when the sender's bare JID already has `per_sender` messages there (0: no such limit), so
    that one stranger cannot fill a victim's whole quota (issue 8)."""
    with transaction.atomic():
        rows = OfflineMessage.objects.filter(username=username, domain=domain)
        bare = sender.split("/", 1)[0]
        counts = rows.aggregate(total=Count("id"), mine=Count(
            "id", filter=Q(sender=bare) | Q(sender__startswith=f"{bare}/")))
        if counts["total"] >= quota or (per_sender and counts["mine"] >= per_sender):
            return False
        OfflineMessage.objects.create(username=username, domain=domain, sender=sender, stanza=stanza)
    return True


def do_delete_messages(username: str, domain: str, ids: list[int]) -> int:
    """Delete the given messages of that user (those delivered); returns how many went."""
    deleted, _ = OfflineMessage.objects.filter(username=username, domain=domain, id__in=ids).delete()
    return deleted


def do_delete_all_messages(username: str, domain: str) -> int:
    deleted, _ = OfflineMessage.objects.filter(username=username, domain=domain).delete()
    if deleted:
        log.info("deleted %d offline message(s) of %s@%s", deleted, username, domain)
    return deleted


def on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of accounts.Account: drop the account's messages in the same transaction."""
    do_delete_all_messages(instance.username, instance.domain)


# -- readers --------------------------------------------------------------------------

def get_messages(username: str, domain: str, after_id: int = 0, limit: int = 100) -> list[tuple[int, str]]:
    """The user's stored messages with id > `after_id`, oldest first: (id, XML) pairs."""
    # Raw SELECT: this runs at every login (xmppd.storage.select).
    return [(i, xml) for i, xml in select(
        f"SELECT id, stanza FROM {OfflineMessage._meta.db_table} "
        "WHERE username = %s AND domain = %s AND id > %s ORDER BY id LIMIT %s",
        (username, domain, after_id, limit))]


def count_messages(username: str, domain: str) -> int:
    return OfflineMessage.objects.filter(username=username, domain=domain).count()
