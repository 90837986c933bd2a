"""Celery tasks of the archive: retention (XMPP_MAM_RETENTION_DAYS).

Scheduled by Celery beat (`CELERY_BEAT_SCHEDULE` in xmppsite/settings.py, every hour);
idempotent: each run deletes what is older than the retention at that moment.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from archive.actions import do_expire


@shared_task(name="archive.expire_messages", ignore_result=True)
def expire_messages(days: int | None = None) -> int:
    """Delete archived messages older than `days` (default: the setting; 0 keeps all)."""
    return do_expire(settings.XMPP_MAM_RETENTION_DAYS if days is None else days)
