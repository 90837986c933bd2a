"""Issue 8: deleting an account removes other users' roster items and subscriptions pointing
at it from every face — the Django admin (one account, or the bulk delete action) and
`manage.py deluser` — and the contacts online get a roster push (RFC 6121 §2.5.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient
from django.urls import reverse
from lxml import etree

from rosters import actions as rosters
from rosters.models import RosterItem
from tests.rosters.helpers import Raw, subscribe_in_db
from tests.support.process import child_env, manage, migrate_with_users
from tests.xmppd.test_process import SCRUBBED
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)
ROSTER = "jabber:iq:roster"


@pytest.fixture
async def admin(settings: Any) -> AsyncClient:
    from django.contrib.auth.models import User

    settings.ALLOWED_HOSTS = ["testserver"]
    user = await db(User.objects.create_superuser, "root", "root@example.org", "rootpw")
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def _pk(username: str) -> int:
    from accounts.models import Account

    return Account.objects.get(username=username, domain="localhost").pk


async def _bob_with(srv: Any, *contacts: str) -> Raw:
    """bob, subscribed both ways to each contact, online and interested in roster pushes."""
    for name in ("bob", *contacts):
        await srv.add_user(name)
    for contact in contacts:
        await subscribe_in_db("bob", contact)
        await subscribe_in_db(contact, "bob")
    bob = await Raw.login(srv, "bob")
    bob.send(f"<iq type='get' id='r1'><query xmlns='{ROSTER}'/></iq>")
    await bob.stanza(lambda el: el.get("id") == "r1")
    return bob


async def _removal_pushed(bob: Raw, contact: str) -> None:
    def is_removal(el: etree._Element) -> bool:
        item = el.find(f"{{{ROSTER}}}query/{{{ROSTER}}}item")
        return (el.get("type") == "set" and item is not None and item.get("jid") == contact
                and item.get("subscription") == "remove")
    await bob.stanza(is_removal)


def _pointing_at(contact: str) -> int:
    return RosterItem.objects.filter(jid=contact).count()


async def test_the_admin_delete_page_cleans_up_and_pushes(xmpp: Any, admin: AsyncClient) -> None:
    bob = await _bob_with(xmpp, "carol")
    url = reverse("admin:accounts_account_delete", args=[await db(_pk, "carol")])
    response = await admin.post(url, {"post": "yes"})
    assert response.status_code == 302, response.content
    await _removal_pushed(bob, "carol@localhost")
    assert await db(_pointing_at, "carol@localhost") == 0
    assert await db(rosters.get_subscription, "bob", "localhost", "carol@localhost") == "none"


async def test_the_admin_bulk_delete_cleans_up_and_pushes(xmpp: Any, admin: AsyncClient) -> None:
    bob = await _bob_with(xmpp, "dave", "erin")
    pks = [await db(_pk, "dave"), await db(_pk, "erin")]
    response = await admin.post(reverse("admin:accounts_account_changelist"),
                                {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
    assert response.status_code == 302, response.content
    await _removal_pushed(bob, "dave@localhost")
    await _removal_pushed(bob, "erin@localhost")
    assert await db(_pointing_at, "dave@localhost") == 0 and await db(_pointing_at, "erin@localhost") == 0


def test_deluser_cleans_up_other_rosters(tmp_path: Path) -> None:
    env = child_env(tmp_path, drop=SCRUBBED)
    migrate_with_users(env, "bob", "carol", "dan")
    manage(env, "shell", "-c", "from rosters.actions import do_set_item as s, do_outbound as o; "
                               "from xmppcore.jid import JID; "
                               "s('bob', 'localhost', 'carol@localhost', 'Carol'); "
                               "o('dan', 'localhost', JID.parse('carol@localhost'), 'subscribe'); "
                               "s('carol', 'localhost', 'bob@localhost', 'Bob')")
    count = ("from rosters.models import RosterItem as R; "
             "print(R.objects.filter(jid='carol@localhost').count(), "
             "R.objects.filter(username='carol').count())")
    assert manage(env, "shell", "-c", count).stdout.split()[-2:] == ["2", "1"]
    manage(env, "deluser", "carol@localhost")
    assert manage(env, "shell", "-c", count).stdout.split()[-2:] == ["0", "0"]
