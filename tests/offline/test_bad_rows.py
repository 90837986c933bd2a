"""Issue 8: a stored message that no longer parses is logged and removed; the messages
stored after it are still delivered (XEP-0160 §2)."""

from __future__ import annotations

import pytest

from offline import actions
from offline.models import OfflineMessage
from tests.clients import connect
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)
GOOD = "<message xmlns='jabber:client' to='bob@localhost' from='alice@localhost/r'><body>{}</body></message>"


def _store_bad_then_good() -> None:
    for text in ("one", "two"):
        actions.do_store_message("bob", "localhost", "alice@localhost/r", GOOD.format(text), 100)
    first = OfflineMessage.objects.filter(username="bob").order_by("id").first()
    OfflineMessage.objects.filter(id=first.id).update(stanza="<message><body>cut sho")


async def test_a_bad_row_does_not_block_the_rest(xmpp) -> None:
    await xmpp.add_user("bob", "secret")
    await db(_store_bad_then_good)
    bob = await connect(xmpp, "bob@localhost")
    msg = await bob.next_message(5)
    assert msg["body"] == "two"
    assert await db(actions.count_messages, "bob", "localhost") == 0
