"""The roster admin: every write goes through rosters.actions; subscription states are read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from rosters import actions
from rosters.models import RosterItem, RosterVersion
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(settings) -> Client:
    settings.ALLOWED_HOSTS = ["testserver"]
    user = User.objects.create_superuser("root", "root@example.org", "rootpw")
    client = Client()
    client.force_login(user)
    return client


def test_changelist_and_change_page(admin_client: Client) -> None:
    actions.do_outbound("alice", "localhost", JID.parse("bob@localhost"), "subscribe")
    actions.do_set_item("alice", "localhost", "bob@localhost", "Bob", ["Work", "Chess"])
    listing = admin_client.get(reverse("admin:rosters_rosteritem_changelist"), {"q": "bob"})
    body = listing.content.decode()
    assert listing.status_code == 200 and "alice@localhost" in body and "Work, Chess" in body
    item = RosterItem.objects.get()
    page = admin_client.get(reverse("admin:rosters_rosteritem_change", args=[item.pk]))
    assert page.status_code == 200
    assert 'name="subscription"' not in page.content.decode()  # read-only state


def test_add_change_delete_go_through_actions(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:rosters_rosteritem_add"), {
        "username": "Alice", "domain": "localhost", "jid": "Bob@LOCALHOST", "name": "Bob",
        "groups_text": "Friends\nChess\n"})
    assert response.status_code == 302, response.content
    item = RosterItem.objects.get()
    assert (item.username, item.jid, item.groups) == ("alice", "bob@localhost", ["Friends", "Chess"])
    assert actions.get_version("alice", "localhost") == 1
    response = admin_client.post(reverse("admin:rosters_rosteritem_change", args=[item.pk]), {
        "name": "Robert", "groups_text": "Chess"})
    assert response.status_code == 302, response.content
    item.refresh_from_db()
    assert item.name == "Robert" and item.groups == ["Chess"]
    assert actions.get_version("alice", "localhost") == 2
    response = admin_client.post(reverse("admin:rosters_rosteritem_delete", args=[item.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not RosterItem.objects.exists() and actions.get_version("alice", "localhost") == 3


def test_add_rejects_bad_input(admin_client: Client) -> None:
    url = reverse("admin:rosters_rosteritem_add")
    for data in ({"jid": "bob@localhost/res"}, {"jid": "a@b@c"}, {"groups_text": "A\nA"}):
        post = {"username": "alice", "domain": "localhost", "jid": "bob@localhost", "name": "",
                "groups_text": "", **data}
        response = admin_client.post(url, post)
        assert response.status_code == 200 and b"errornote" in response.content, data
    assert not RosterItem.objects.exists()


def test_versions_are_read_only(admin_client: Client) -> None:
    actions.do_set_item("alice", "localhost", "bob@localhost")
    listing = admin_client.get(reverse("admin:rosters_rosterversion_changelist"))
    assert listing.status_code == 200 and "alice@localhost" in listing.content.decode()
    version = RosterVersion.objects.get()
    assert admin_client.get(reverse("admin:rosters_rosterversion_add")).status_code == 403
    response = admin_client.post(reverse("admin:rosters_rosterversion_delete", args=[version.pk]),
                                 {"post": "yes"})
    assert response.status_code == 403 and RosterVersion.objects.exists()
