"""Rooms in the Django admin: changes go through muc.actions, or through the live service so
that occupants see them on the wire (configuration announced, bans, destruction)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from muc import operations
from muc.models import Affiliation, HistoryMessage, Room
from tests.muc.helpers import USER, codes, groupchat, instant_room, join, next_groupchat, presence_from, q, take, user
from xmppd.storage import db

ROOM = "staff@conference.localhost"


def _admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    return client


def _form(room: Room, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in ("name", "description", "lang", "password", "max_users", "whois", "allow_pm", "history_length",
                  "presence_broadcast", "subject", "subject_nick"):
        data[field] = getattr(room, field)
    for field in ("public", "members_only", "moderated", "allow_invites", "change_subject", "logging",
                  "members_visible"):
        if getattr(room, field):
            data[field] = "on"
    affiliations = list(room.affiliations.all())
    data.update({"affiliations-TOTAL_FORMS": str(len(affiliations) + 1),
                 "affiliations-INITIAL_FORMS": str(len(affiliations)),
                 "affiliations-MIN_NUM_FORMS": "0", "affiliations-MAX_NUM_FORMS": "1000",
                 "nicks-TOTAL_FORMS": "0", "nicks-INITIAL_FORMS": "0",
                 "nicks-MIN_NUM_FORMS": "0", "nicks-MAX_NUM_FORMS": "1000"})
    for i, aff in enumerate(affiliations):
        data.update({f"affiliations-{i}-id": str(aff.id), f"affiliations-{i}-room": str(room.id),
                     f"affiliations-{i}-jid": aff.jid, f"affiliations-{i}-affiliation": aff.affiliation,
                     f"affiliations-{i}-reason": aff.reason})
    data.update(changes)
    return data


async def test_admin_changes_reach_the_occupants(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_persistentroom": "1"})
    await join(bob, ROOM, "Bob")
    await groupchat(bob, ROOM, "kept")
    await next_groupchat(bob, lambda m: m.findtext("{jabber:client}body") == "kept")
    for service in operations.services(xmpp.server):
        await service.flush()  # the history batch is written now, not while the admin writes (SQLite)
    assert await db(lambda: HistoryMessage.objects.filter(room__jid=ROOM).count()) == 1
    admin = await db(_admin)
    room = await db(lambda: Room.objects.get(jid=ROOM))
    url = f"/admin/muc/room/{room.id}/change/"
    data = await db(lambda: _form(room, name="Staff room"))
    r = await sync_to_async(admin.post, thread_sensitive=False)(url, data)
    assert r.status_code == 302, r.content.decode()[:3000]
    announced = await next_groupchat(bob, lambda m: m.find(q(USER, "x")) is not None)
    assert codes(announced) == {"104"}
    assert (await db(lambda: Room.objects.get(jid=ROOM))).name == "Staff room"
    room = await db(lambda: Room.objects.get(jid=ROOM))
    data = await db(lambda: _form(room, **{"affiliations-1-jid": "bob@localhost",
                                           "affiliations-1-affiliation": "outcast",
                                           "affiliations-1-reason": "by the admin",
                                           "affiliations-1-room": str(room.id)}))
    r = await sync_to_async(admin.post, thread_sensitive=False)(url, data)
    assert r.status_code == 302, r.content.decode()[:3000]
    banned = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(banned) == {"110", "301"}
    assert await db(lambda: Affiliation.objects.get(room__jid=ROOM, jid="bob@localhost").affiliation) == "outcast"
    page = await sync_to_async(admin.get, thread_sensitive=False)("/admin/muc/historymessage/")
    assert page.status_code == 200
    r = await sync_to_async(admin.post, thread_sensitive=False)(f"/admin/muc/room/{room.id}/delete/", {"post": "yes"})
    assert r.status_code == 302
    gone = await take(alice.presences, presence_from(f"{ROOM}/Alice", "unavailable"))
    assert gone.find(f"{q(USER, 'x')}/{q(USER, 'destroy')}") is not None
    assert await db(lambda: Room.objects.filter(jid=ROOM).count()) == 0
