"""Operator changes reach the subscribers on the wire (XEP-0060 §8.5.2 <purge/>, §8.4.2
<delete/>, §7.2.2.1 <retract/>): the operator commands run on the server's loop, the Django
admin hands its change to the running server (`pubsub.operations`)."""

from __future__ import annotations

import asyncio

from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.urls import reverse

from commands.execution import run
from commands.registry import Actor
from pubsub.models import Item, Node
from tests.pubsub.helpers import (EVENT, accounts, create, event_of, login, next_event, ok, publish, q,
                                  subscribe, subscribe_presence, users)
from tests.support.quiet import nothing_more

ROOT = Actor(None, True, frozenset(), "cli", label="cli")
TUNE = "http://jabber.org/protocol/tune"


async def _subscribed_node(alice, bob, name: str) -> None:
    ok(await create(alice, name, pubsub__notify_delete="1"))
    for item_id in ("a", "b"):
        ok(await publish(alice, name, f"<n xmlns='urn:t'>{item_id}</n>", item_id))
    ok(await subscribe(bob, name))
    await next_event(bob)  # the last item, on subscription


async def _event(client, child: str, node: str):
    event = event_of(await next_event(client))
    found = event.find(q(EVENT, child))
    assert found is not None and found.get("node") == node, event
    return found


async def test_commands_notify_purge_and_delete(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    await _subscribed_node(alice, bob, "ops")
    assert await run("pubsub_purge_node", ROOT, {"domain": "localhost", "name": "ops"}) == 2
    await _event(bob, "purge", "ops")
    await run("pubsub_delete_node", ROOT, {"domain": "localhost", "name": "ops"})
    delete = await _event(bob, "delete", "ops")
    assert len(delete) == 0  # no redirect
    await nothing_more(bob, bob.messages)


async def test_pep_purge_command_reaches_contacts_with_notify(xmpp):
    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    alice = await login(xmpp, "alice")
    bob = await login(xmpp, "bob", TUNE)
    ok(await publish(alice, TUNE, f"<tune xmlns='{TUNE}'/>", "t", to=None))
    await next_event(bob)
    assert await run("pep_purge_node", ROOT, {"jid": "alice@localhost", "name": TUNE}) == 1
    message = await next_event(bob)
    assert message["from"] == "alice@localhost"
    assert event_of(message).find(q(EVENT, "purge")).get("node") == TUNE


async def _in_thread(fn, *args):
    """A sync (Django) call in a worker thread, its database connection closed after."""
    def call():
        try:
            return fn(*args)
        finally:
            connections.close_all()
    return await asyncio.to_thread(call)


def _admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "rootpw"))
    return client


async def test_admin_changes_are_notified(xmpp, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    alice, bob = await users(xmpp, "alice", "bob")
    await _subscribed_node(alice, bob, "adm")
    admin = await _in_thread(_admin)
    item = await _in_thread(lambda: Item.objects.get(node__name="adm", item_id="a"))
    response = await _in_thread(admin.post, reverse("admin:pubsub_item_delete", args=[item.pk]),
                                {"post": "yes"})
    assert response.status_code == 302
    retract = await _event(bob, "items", "adm")
    assert [r.get("id") for r in retract.findall(q(EVENT, "retract"))] == ["a"]

    node = await _in_thread(lambda: Node.objects.get(name="adm"))
    response = await _in_thread(admin.post, reverse("admin:pubsub_node_changelist"),
                                {"action": "purge_nodes", "_selected_action": [node.pk]})
    assert response.status_code == 302
    await _event(bob, "purge", "adm")
    assert not await _in_thread(lambda: Item.objects.filter(node__name="adm").exists())

    response = await _in_thread(admin.post, reverse("admin:pubsub_node_delete", args=[node.pk]),
                                {"post": "yes"})
    assert response.status_code == 302
    await _event(bob, "delete", "adm")
    assert not await _in_thread(lambda: Node.objects.filter(name="adm").exists())
    await nothing_more(bob, bob.messages)
