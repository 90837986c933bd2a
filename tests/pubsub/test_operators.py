"""The operators' faces of pubsub: actions, the Django admin (purge and delete), the commands
(`pubsub_*` through `commands.execution.run`, as REST, ad-hoc and the CLI call them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from commands.execution import run
from commands.registry import Actor, CommandError
from pubsub import actions
from pubsub.engine import config as cfg
from pubsub.models import Item, Node, Subscription
from xmppcore.jid import JID

SERVICE = "pubsub.localhost"
ROOT = Actor(None, True, frozenset(), "cli", label="cli")
OTHER_ADMIN = Actor(JID("boss", "example.org", None), False, frozenset({"example.org"}), "rest")


def make_node(name: str = "n", items: int = 3, service: str = SERVICE) -> None:
    actions.do_create_node(service, name, cfg.default_config(), "alice@localhost")
    for i in range(items):
        actions.do_publish(service, name, f"i{i}", f"<p xmlns='urn:t'>{i}</p>", "alice@localhost/r")
    actions.do_subscribe(service, name, "bob@localhost", "subscribed")


@pytest.mark.django_db
def test_actions_keep_max_items_and_replace_by_id() -> None:
    actions.do_create_node(SERVICE, "m", {**cfg.default_config(), cfg.MAX_ITEMS: 2}, "alice@localhost")
    assert actions.do_publish(SERVICE, "m", "a", "<a/>", "x") == []
    assert actions.do_publish(SERVICE, "m", "b", "<b/>", "x") == []
    assert actions.do_publish(SERVICE, "m", "c", "<c/>", "x") == ["a"]
    assert actions.do_publish(SERVICE, "m", "b", "<b2/>", "x") == []  # same id: replaced, moved last
    assert [i for i, _, _ in actions.get_items(SERVICE, "m")] == ["c", "b"]
    assert actions.get_items(SERVICE, "m", ["b"])[0][2] == "<b2/>"
    assert actions.do_create_node(SERVICE, "m", {}, "alice@localhost") is None


@pytest.mark.django_db
def test_account_deletion_takes_its_pep_nodes() -> None:
    from accounts.actions import do_create_account, do_delete_account

    do_create_account("alice", "localhost", "secret")
    make_node("tune", 1, service="alice@localhost")
    make_node("x", 0)
    actions.do_subscribe(SERVICE, "x", "alice@localhost/r", "subscribed")
    do_delete_account("alice", "localhost")
    assert not Node.objects.filter(service="alice@localhost").exists()
    assert list(Subscription.objects.values_list("jid", flat=True)) == ["bob@localhost"]


@pytest.fixture
def admin_client(settings) -> Client:
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "rootpw"))
    return client


@pytest.mark.django_db
def test_admin_lists_purges_and_deletes(admin_client: Client) -> None:
    make_node("n")
    node = Node.objects.get(name="n")
    listing = admin_client.get(reverse("admin:pubsub_node_changelist"), {"q": "n"})
    assert listing.status_code == 200 and b"pubsub.localhost" in listing.content
    assert admin_client.get(reverse("admin:pubsub_node_add")).status_code == 403
    assert admin_client.get(reverse("admin:pubsub_item_changelist")).status_code == 200
    response = admin_client.post(reverse("admin:pubsub_node_changelist"),
                                 {"action": "purge_nodes", "_selected_action": [node.pk]})
    assert response.status_code == 302 and not Item.objects.filter(node=node).exists()
    response = admin_client.post(reverse("admin:pubsub_node_delete", args=[node.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Node.objects.exists() and not Subscription.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_commands_list_purge_and_delete() -> None:
    from xmppd.storage import db

    await db(make_node, "n")
    nodes = await run("pubsub_nodes", ROOT, {"domain": "localhost"})
    assert nodes == [{"node": "n", "title": "", "access_model": "open", "items": 3, "subscribers": 1}]
    items = await run("pubsub_items", ROOT, {"domain": "localhost", "name": "n"})
    assert [i["id"] for i in items] == ["i0", "i1", "i2"]
    with pytest.raises(CommandError) as exc:
        await run("pubsub_purge_node", OTHER_ADMIN, {"domain": "localhost", "name": "n"})
    assert exc.value.code == "forbidden"
    assert await run("pubsub_purge_node", ROOT, {"domain": "localhost", "name": "n"}) == 3
    await run("pubsub_delete_node", ROOT, {"domain": "localhost", "name": "n"})
    with pytest.raises(CommandError) as exc:
        await run("pubsub_delete_node", ROOT, {"domain": "localhost", "name": "n"})
    assert exc.value.code == "not-found"
    await db(make_node, "tune", 2, "alice@localhost")
    assert [n["node"] for n in await run("pep_nodes", ROOT, {"jid": "alice@localhost"})] == ["tune"]
    assert await run("pep_purge_node", ROOT, {"jid": "alice@localhost", "name": "tune"}) == 2
    await run("pep_delete_node", ROOT, {"jid": "alice@localhost", "name": "tune"})
    assert await run("pep_nodes", ROOT, {"jid": "alice@localhost"}) == []
