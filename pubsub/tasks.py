"""Celery tasks of pubsub: the deletion of expired items (XEP-0060 §16.4 pubsub#item_expire).

Scheduled by Celery beat (`CELERY_BEAT_SCHEDULE` in xmppsite/settings.py, every ten minutes);
idempotent: each run deletes the items that are past their node's expiry at that moment.
Readers hide expired items already, so the schedule only bounds how long they take room.
"""

from __future__ import annotations

from celery import shared_task

from pubsub.actions import do_expire_items


@shared_task(name="pubsub.expire_items", ignore_result=True)
def expire_items() -> int:
    """Delete every item older than its node's pubsub#item_expire; how many went."""
    return do_expire_items()
