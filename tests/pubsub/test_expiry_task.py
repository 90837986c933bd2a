"""XEP-0060 §16.4 pubsub#item_expire: expired items are hidden at once and deleted by the
Celery beat task `pubsub.expire_items` (CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from pubsub.tasks import expire_items
from tests.pubsub.helpers import PUBSUB, SERVICE, create, iq, ok, publish, q, users


def test_the_task_is_scheduled() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["pubsub-expire-items"]
    assert entry["task"] == expire_items.name == "pubsub.expire_items"
    assert 0 < entry["schedule"] <= 3600


async def test_the_task_deletes_expired_items_only(xmpp):
    from pubsub.models import Item
    from xmppd.storage import db

    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "short", pubsub__item_expire="60"))
    ok(await create(alice, "forever"))
    for node in ("short", "forever"):
        ok(await publish(alice, node, "<n xmlns='urn:t'/>", "old"))
        ok(await publish(alice, node, "<n xmlns='urn:t'/>", "new"))
    old = timezone.now() - timedelta(seconds=120)
    await db(lambda: Item.objects.filter(item_id="old").update(published_at=old))

    assert await db(lambda: expire_items.apply().result) == 1
    rows = await db(lambda: sorted(Item.objects.values_list("node__name", "item_id")))
    assert rows == [("forever", "new"), ("forever", "old"), ("short", "new")]
    assert await db(lambda: expire_items.apply().result) == 0  # idempotent
    for node, ids in (("short", ["new"]), ("forever", ["old", "new"])):
        items = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='{node}'/></pubsub>"))
        assert [i.get("id") for i in items.iter(q(PUBSUB, "item"))] == ids
