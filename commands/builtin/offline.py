"""Offline storage maintenance: delete messages older than N days (a Celery task)."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby

from django.utils import timezone

from commands.builtin._common import check_hosted_domain
from commands.registry import Arg, Command, Context

BATCH = 500


def delete_old_offline(ctx: Context, days: int, domain: str | None) -> dict[str, int]:
    """Through `offline.actions.do_delete_messages`, a batch at a time, oldest first;
    cancellable between batches. Idempotent: a second run finds nothing left to delete."""
    from offline.actions import do_delete_messages
    from offline.models import OfflineMessage

    if domain is not None:
        check_hosted_domain(domain)
    old = OfflineMessage.objects.filter(stored_at__lt=timezone.now() - timedelta(days=days))
    if domain is not None:
        old = old.filter(domain=domain)
    total = old.count()
    deleted = 0
    ctx.progress(0, total, "starting")
    while True:
        ctx.check_cancelled()
        rows = list(old.order_by("domain", "username", "id").values_list("domain", "username", "id")[:BATCH])
        if not rows:
            break
        for (owner_domain, username), group in groupby(rows, key=lambda r: (r[0], r[1])):
            deleted += do_delete_messages(username, owner_domain, [r[2] for r in group])
        ctx.progress(deleted, max(total, deleted), f"{deleted} deleted")
    return {"deleted": deleted}


COMMANDS = (
    Command("delete_old_offline", "Delete offline messages stored more than N days ago.",
            (Arg("days", "int", label="Older than (days)", min=0, max=36500),
             Arg("domain", "domain", label="Domain", required=False,
                 help="Only this domain (required for domain administrators).")),
            "dict", "domain_admin", delete_old_offline, category="offline", long_running=True),
)
