"""XEP-0133 Service Administration nodes over the registry, with the effects checked:
the new account logs in, the deleted one cannot, the announcement arrives, ..."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from commands import registry
from commands import execution
from tests.clients import connect
from tests.commands.helpers import SERVER_ADMIN
from tests.commands.test_adhoc import (XD, cmd_of, error_of, execute, form_of, notes_of, q)
from tests.plugins.wire import eventually
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN = "http://jabber.org/protocol/admin"
ROSTER = "jabber:iq:roster"


def node(name: str) -> str:
    return f"{ADMIN}#{name}"


@pytest.fixture
def admins(settings: Any) -> None:
    settings.XMPP_ADMINS = ["admin@localhost"]


async def run_admin(client: Any, name: str, values: dict[str, Any] | None) -> etree._Element:
    """Start the node, check its XEP-0133 form, submit `values`; the final reply."""
    first = await execute(client, node(name))
    if values is None:
        return first
    cmd = cmd_of(first)
    assert cmd.get("status") == "executing", etree.tostring(first)
    form = form_of(cmd)
    assert form.form_type == ADMIN  # XEP-0133 §4: FORM_TYPE http://jabber.org/protocol/admin
    assert form.field("FORM_TYPE").type == "hidden"
    return await execute(client, node(name), sessionid=cmd.get("sessionid"), submit=values, form_type=ADMIN)


async def cannot_login(srv: Any, jid: str, password: str = "secret") -> bool:
    try:
        await connect(srv, jid, password, timeout=3)
    except AssertionError:
        return True
    return False


async def test_add_user_then_login(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    first = cmd_of(await execute(admin, node("add-user")))
    form = form_of(first)
    assert form.title == "Adding a User"
    assert [(f.var, f.type, f.required) for f in form.fields] == [
        ("FORM_TYPE", "hidden", False), ("accountjid", "jid-single", True),
        ("password", "text-private", True), ("password-verify", "text-private", True)]
    sid = first.get("sessionid")
    reply = await execute(admin, node("add-user"), sessionid=sid, form_type=ADMIN, submit={
        "accountjid": "juliet@localhost", "password": "R0m30", "password-verify": "R0m3O"})
    assert error_of(reply) == ("modify", "bad-request", "bad-payload")
    reply = await execute(admin, node("add-user"), sessionid=sid, form_type="urn:other", submit={
        "accountjid": "juliet@localhost", "password": "R0m30", "password-verify": "R0m30"})
    assert error_of(reply)[2] == "bad-payload"  # the wrong FORM_TYPE
    done = cmd_of(await execute(admin, node("add-user"), sessionid=sid, form_type=ADMIN, submit={
        "accountjid": "juliet@localhost", "password": "R0m30", "password-verify": "R0m30"}))
    assert done.get("status") == "completed" and ("info", "Adding a User: done.") in notes_of(done)
    juliet = await connect(xmpp, "juliet@localhost", "R0m30")
    assert juliet.boundjid.bare == "juliet@localhost"
    # §5: a user that exists already is a <conflict/>.
    again = await run_admin(admin, "add-user", {"accountjid": "juliet@localhost", "password": "x",
                                                "password-verify": "x"})
    assert error_of(again)[:2] == ("cancel", "conflict")


async def test_change_password_delete_disable_reenable(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    for name in ("romeo", "mercutio", "tybalt"):
        await xmpp.add_user(name)
    reply = await run_admin(admin, "change-user-password", {"accountjid": "romeo@localhost", "password": "n3w"})
    assert cmd_of(reply).get("status") == "completed"
    assert await cannot_login(xmpp, "romeo@localhost", "secret")
    await connect(xmpp, "romeo@localhost", "n3w")

    tybalt = await connect(xmpp, "tybalt@localhost")
    reply = await run_admin(admin, "disable-user", {"accountjids": ["tybalt@localhost"]})
    assert cmd_of(reply).get("status") == "completed"
    await eventually(lambda: not xmpp.server.sessions.resources(JID.parse("tybalt@localhost")))
    assert await cannot_login(xmpp, "tybalt@localhost")
    reply = await run_admin(admin, "reenable-user", {"accountjids": ["tybalt@localhost"]})
    assert cmd_of(reply).get("status") == "completed"
    await connect(xmpp, "tybalt@localhost")
    assert tybalt is not None

    reply = await run_admin(admin, "delete-user", {"accountjids": ["romeo@localhost", "mercutio@localhost"]})
    assert cmd_of(reply).get("status") == "completed"
    assert await cannot_login(xmpp, "mercutio@localhost")
    assert await cannot_login(xmpp, "romeo@localhost", "n3w")
    # One JID: a missing account is an error stanza (§5); several: error notes per account.
    reply = await run_admin(admin, "delete-user", {"accountjids": ["romeo@localhost"]})
    assert error_of(reply)[:2] == ("cancel", "item-not-found")
    reply = await run_admin(admin, "delete-user", {"accountjids": ["romeo@localhost", "tybalt@localhost"]})
    done = cmd_of(reply)
    assert done.get("status") == "completed"
    assert [t for t, text in notes_of(done)] == ["error"] and "romeo@localhost" in notes_of(done)[0][1]
    assert await cannot_login(xmpp, "tybalt@localhost")


async def test_counts_and_lists(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    await xmpp.add_user("a1")
    await xmpp.add_user("a2")
    await xmpp.add_user("other", domain="example.org")
    await connect(xmpp, "a1@localhost")
    done = cmd_of(await run_admin(admin, "get-registered-users-num", None))
    assert done.get("status") == "completed"  # nothing to ask: one stage
    form = form_of(done)
    assert form.form_type == ADMIN
    assert form.field("registeredusersnum").values == ["3"]  # the domain the command was sent to
    done = cmd_of(await run_admin(admin, "get-online-users-num", None))
    assert form_of(done).field("onlineusersnum").values == ["2"]

    first = cmd_of(await execute(admin, node("get-online-users-list")))
    max_items = form_of(first).field("max_items")
    assert max_items.type == "list-single"
    assert [o.value for o in max_items.options] == ["25", "50", "75", "100", "150", "200", "none"]
    done = cmd_of(await run_admin(admin, "get-online-users-list", {"max_items": "none"}))
    jids = form_of(done).field("onlineuserjids")
    assert jids.type == "jid-multi" and sorted(jids.values) == ["a1@localhost", "admin@localhost"]
    done = cmd_of(await run_admin(admin, "get-registered-users-list", {"max_items": "25"}))
    assert sorted(form_of(done).field("registereduserjids").values) == [
        "a1@localhost", "a2@localhost", "admin@localhost"]
    reply = await run_admin(admin, "get-registered-users-list", {"max_items": "7"})
    assert error_of(reply)[2] == "bad-payload"  # not one of the options


async def test_get_user_roster(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    await xmpp.add_user("juliet")
    await execution.run("roster_add", SERVER_ADMIN, {"jid": "juliet@localhost", "contact": "romeo@example.net",
                                                     "name": "Romeo", "groups": "Friends\nLovers"})
    reply = await run_admin(admin, "get-user-roster", {"accountjids": ["juliet@localhost"]})
    done = cmd_of(reply)
    x = done.find(q(XD, "x"))
    assert x.get("type") == "result"
    form = form_of(done)
    assert form.field("accountjids").values == ["juliet@localhost"]
    items = x.findall(f"{q(ROSTER, 'query')}/{q(ROSTER, 'item')}")
    assert [(i.get("jid"), i.get("name"), i.get("subscription")) for i in items] == [
        ("romeo@example.net", "Romeo", "none")]
    assert [g.text for g in items[0].findall(q(ROSTER, "group"))] == ["Friends", "Lovers"]
    reply = await run_admin(admin, "get-user-roster", {"accountjids": ["juliet@localhost", "admin@localhost"]})
    assert error_of(reply)[2] == "bad-payload"  # XEP-0122 list-range: one account at a time


async def test_announce_and_message_of_the_day(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    await xmpp.add_user("bob")
    bob = await connect(xmpp, "bob@localhost")
    await eventually(lambda: any(s.is_available for s in xmpp.server.sessions.resources(JID.parse("bob@localhost"))))
    reply = await run_admin(admin, "announce", {"announcement": ["Going down", "in 2 minutes."]})
    assert cmd_of(reply).get("status") == "completed"
    msg = await bob.next_message()
    assert msg["body"] == "Going down\nin 2 minutes." and str(msg["from"]) == "localhost"

    reply = await run_admin(admin, "set-motd", {"motd": ["Welcome to the Globe."]})
    assert cmd_of(reply).get("status") == "completed"
    await xmpp.add_user("carol")
    carol = await connect(xmpp, "carol@localhost")
    motd = await carol.next_message()
    assert motd["body"] == "Welcome to the Globe."
    # §4.25: editing starts from the current message.
    first = cmd_of(await execute(admin, node("edit-motd")))
    assert form_of(first).field("motd").values == ["Welcome to the Globe."]
    reply = await execute(admin, node("edit-motd"), sessionid=first.get("sessionid"), form_type=ADMIN,
                          submit={"motd": ["The Globe reopens", "tomorrow."]})
    assert cmd_of(reply).get("status") == "completed"
    await xmpp.add_user("dave")
    dave = await connect(xmpp, "dave@localhost")
    assert (await dave.next_message())["body"] == "The Globe reopens\ntomorrow."
    done = cmd_of(await run_admin(admin, "delete-motd", None))
    assert done.get("status") == "completed"
    reply = await run_admin(admin, "delete-motd", None)
    assert error_of(reply)[:2] == ("cancel", "item-not-found")  # §5: there is none any more


async def test_end_user_session(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    await xmpp.add_user("bob")
    await connect(xmpp, "bob@localhost")
    bare = JID.parse("bob@localhost")
    assert xmpp.server.sessions.resources(bare)
    reply = await run_admin(admin, "end-user-session", {"accountjids": ["bob@localhost"]})
    assert cmd_of(reply).get("status") == "completed"
    await eventually(lambda: not xmpp.server.sessions.resources(bare))
    reply = await run_admin(admin, "end-user-session", {"accountjids": ["bob@localhost"]})
    assert error_of(reply)[:2] == ("cancel", "item-not-found")


async def test_non_admin_gets_forbidden_on_every_admin_node(xmpp: Any, admins: None) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    for name in ("add-user", "delete-user", "get-registered-users-num", "announce", "set-motd", "edit-motd"):
        reply = await execute(bob, node(name))
        assert error_of(reply)[:2] == ("auth", "forbidden"), name
