"""Every REST endpoint's effect on the running server, checked on the wire (slixmpp and raw sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lxml import etree

from tests.clients import connect, stream_error_condition
from tests.commands.helpers import Api, login_fails, make_token, raw_login, wait_for
from xmppd.storage import db


async def test_create_user_then_log_in(xmpp) -> None:
    api = Api(await make_token())
    r = await api.post("/api/users", {"jid": "Carol@localhost", "password": "pw1"})
    assert r.status_code == 201 and r.data == {"jid": "carol@localhost"}
    assert r["Location"] == "/api/users/carol@localhost"
    client = await connect(xmpp, "carol@localhost", "pw1")
    assert client.boundjid.bare == "carol@localhost"


async def test_unregister_closes_the_session_and_login_fails(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await raw_login(xmpp.host, xmpp.port, "alice")
    api = Api(await make_token())
    r = await api.delete("/api/users/alice@localhost")
    assert r.status_code == 204 and r.content == b""
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "not-authorized"
    assert await login_fails(xmpp.host, xmpp.port, "alice")
    assert (await api.get("/api/users/alice@localhost")).status_code == 404


async def test_unregister_with_slixmpp_then_it_cannot_log_in(xmpp) -> None:
    await xmpp.add_user("dave")
    client = await connect(xmpp, "dave@localhost")
    gone = asyncio.get_running_loop().create_future()
    client.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
    r = await Api(await make_token()).delete("/api/users/dave@localhost")
    assert r.status_code == 204
    await asyncio.wait_for(gone, 5)
    try:
        await connect(xmpp, "dave@localhost", timeout=3)
    except AssertionError as exc:
        assert "failed_auth" in str(exc)
    else:
        raise AssertionError("dave could still log in")


async def test_kick_closes_the_session_on_the_wire(xmpp) -> None:
    await xmpp.add_user("alice")
    phone = await raw_login(xmpp.host, xmpp.port, "alice", resource="phone")
    laptop = await raw_login(xmpp.host, xmpp.port, "alice", resource="laptop")
    api = Api(await make_token())
    r = await api.get("/api/sessions")
    assert r.status_code == 200 and r.data["total"] == 2
    assert {row["jid"] for row in r.data["items"]} == {"alice@localhost/phone", "alice@localhost/laptop"}
    assert {row["transport"] for row in r.data["items"]} == {"tcp"}
    r = await api.delete("/api/sessions/alice@localhost/phone")
    assert r.status_code == 204
    assert stream_error_condition(await phone.read_to_eof()) == "policy-violation"
    await wait_for(lambda: len(xmpp.server.sessions) == 1)
    assert (await api.delete("/api/sessions/alice@localhost/phone")).status_code == 404
    r = await api.delete("/api/sessions/alice@localhost")  # bare: every session of the user
    assert r.status_code == 204
    assert stream_error_condition(await laptop.read_to_eof()) == "policy-violation"


async def test_disable_then_enable(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await raw_login(xmpp.host, xmpp.port, "alice")
    api = Api(await make_token())
    assert (await api.post("/api/users/alice@localhost/disable")).status_code == 204
    assert stream_error_condition(await raw.read_to_eof()) == "not-authorized"
    assert await login_fails(xmpp.host, xmpp.port, "alice")
    info = await api.get("/api/users/alice@localhost")
    assert info.data["active"] is False
    assert (await api.post("/api/users/alice@localhost/enable")).status_code == 204
    assert not await login_fails(xmpp.host, xmpp.port, "alice")


async def test_change_password(xmpp) -> None:
    await xmpp.add_user("alice", "old")
    api = Api(await make_token())
    r = await api.put("/api/users/alice@localhost/password", {"password": "new"})
    assert r.status_code == 204
    assert await login_fails(xmpp.host, xmpp.port, "alice", "old")
    assert not await login_fails(xmpp.host, xmpp.port, "alice", "new")


async def test_announcement_arrives_at_a_connected_client(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    alice = await connect(xmpp, "alice@localhost")
    await wait_for(lambda: all(s.is_available for s in xmpp.server.sessions.all()))
    api = Api(await make_token())
    r = await api.post("/api/announcements", {"body": "Maintenance at noon", "subject": "Notice"})
    assert r.status_code == 200 and r.data == {"result": 1}
    msg = await alice.next_message()
    assert msg["from"].full == "localhost" and msg["body"] == "Maintenance at noon"
    assert msg["subject"] == "Notice" and msg["type"] == "normal"


async def test_send_message_online_and_offline(xmpp) -> None:
    from offline.actions import count_messages

    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    alice = await connect(xmpp, "alice@localhost")
    await wait_for(lambda: all(s.is_available for s in xmpp.server.sessions.all()))
    api = Api(await make_token())
    r = await api.post("/api/messages", {"to": "alice@localhost", "body": "hello", "sender": "bob@localhost",
                                         "type": "chat"})
    assert r.status_code == 200, r.data
    msg = await alice.next_message()
    xml = msg.xml
    assert xml.get("from") == "bob@localhost" and xml.get("type") == "chat"
    assert xml.find("{jabber:client}body").text == "hello"
    r = await api.post("/api/commands/send_message", {"to": "bob@localhost", "body": "later"})
    assert r.status_code == 200
    assert await db(count_messages, "bob", "localhost") == 1
    r = await api.post("/api/messages", {"to": "alice@localhost", "body": "x", "sender": "eve@evil.example"})
    assert r.status_code == 400 and r.data["error"]["fields"] == {"sender": "must be on a domain this server hosts"}


async def test_message_of_the_day_is_delivered_at_login(xmpp) -> None:
    await xmpp.add_user("alice")
    api = Api(await make_token())
    r = await api.put("/api/motd/localhost", {"body": "Welcome back", "subject": "MOTD"})
    assert r.status_code == 204
    assert (await api.get("/api/motd/localhost")).data["body"] == "Welcome back"
    alice = await connect(xmpp, "alice@localhost")
    msg = await alice.next_message()
    assert msg["from"].full == "localhost" and msg["body"] == "Welcome back" and msg["subject"] == "MOTD"
    assert (await api.delete("/api/motd/localhost")).status_code == 204
    assert (await api.get("/api/motd/localhost")).status_code == 404
    again = await connect(xmpp, "alice@localhost", resource="second")
    try:
        got = await again.next_message(timeout=0.5)
    except asyncio.TimeoutError:
        got = None
    assert got is None


async def test_roster_add_is_pushed_and_remove_too(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await raw_login(xmpp.host, xmpp.port, "alice")
    raw.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    await raw.read_until(b"id=['\"]r1['\"]")
    raw.take()
    api = Api(await make_token())
    r = await api.post("/api/users/alice@localhost/roster",
                       {"contact": "bob@example.org", "name": "Bob", "groups": ["Friends", "Work"]})
    assert r.status_code == 204, r.data
    data = await raw.read_until(b"</iq>")
    push = etree.fromstring(data[data.index(b"<iq"):])
    assert push.get("type") == "set"
    item = push.find("{jabber:iq:roster}query/{jabber:iq:roster}item")
    assert item.get("jid") == "bob@example.org" and item.get("name") == "Bob"
    assert sorted(g.text for g in item.findall("{jabber:iq:roster}group")) == ["Friends", "Work"]
    raw.take()
    roster = await api.get("/api/users/alice@localhost/roster")
    assert roster.data["items"] == [{"jid": "bob@example.org", "name": "Bob", "subscription": "none", "ask": "",
                                     "groups": ["Friends", "Work"]}]
    assert (await api.delete("/api/users/alice@localhost/roster/bob@example.org")).status_code == 204
    data = await raw.read_until(b"</iq>")
    item = etree.fromstring(data[data.index(b"<iq"):]).find("{jabber:iq:roster}query/{jabber:iq:roster}item")
    assert item.get("subscription") == "remove"
    assert (await api.get("/api/users/alice@localhost/roster")).data["items"] == []
    assert (await api.delete("/api/users/alice@localhost/roster/bob@example.org")).status_code == 404


async def test_stats_count_users_sessions_and_stanzas(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob", domain="example.org")
    alice = await connect(xmpp, "alice@localhost")
    for i in range(5):
        alice.send_message(mto="alice@localhost", mbody=f"m{i}")
    for _ in range(5):
        await alice.next_message()
    r = await Api(await make_token()).get("/api/stats")
    assert r.status_code == 200
    stats = r.data
    assert stats["registered_users"] == 2
    assert stats["registered_users_by_domain"] == {"localhost": 1, "example.org": 1}
    assert stats["online_sessions"] == 1 and stats["sessions_by_transport"] == {"tcp": 1}
    assert stats["stanzas_in"] >= 6 and stats["stanzas_out"] >= 5
    assert stats["stanzas_in_per_second"] > 0
    assert stats["uptime_seconds"] >= 0


async def test_reload_reads_the_env_file(xmpp, settings, tmp_path: Path) -> None:
    env = tmp_path / "xmppd.env"
    env.write_text("# operator edits\nXMPP_ALLOW_REGISTRATION=true\nXMPP_OFFLINE_QUOTA=7\n"
                   "XMPP_ADMINS=root@localhost\n")
    settings.XMPP_ENV_FILE = str(env)
    assert xmpp.server.config.allow_registration is False
    api = Api(await make_token())
    r = await api.post("/api/commands/reload")
    assert r.status_code == 200
    changed = r.data["result"]["changed"]
    assert changed["allow_registration"] == {"old": False, "new": True}
    assert changed["offline_quota"]["new"] == 7
    assert xmpp.server.config.allow_registration is True and xmpp.server.config.offline_quota == 7
    from commands.permissions import actor_for_jid
    from commands.settings import clear_overrides
    from xmppcore.jid import JID

    try:
        assert actor_for_jid(JID.parse("root@localhost")).is_server_admin
    finally:
        clear_overrides()
    env.write_text("XMPP_OFFLINE_QUOTA=lots\n")
    r = await api.post("/api/commands/reload")
    assert r.status_code == 400 and "XMPP_OFFLINE_QUOTA" in r.data["error"]["fields"]


async def test_session_listings(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob", domain="example.org")
    raws = [await raw_login(xmpp.host, xmpp.port, "alice", resource="one"),  # kept: dropped sockets close
            await raw_login(xmpp.host, xmpp.port, "alice", resource="two"),
            await raw_login(xmpp.host, xmpp.port, "bob", resource="x", domain="example.org")]
    await wait_for(lambda: len(xmpp.server.sessions) == 3)
    api = Api(await make_token())
    assert (await api.get("/api/commands/count_sessions")).data == {"result": 3}
    assert (await api.get("/api/commands/count_sessions", domain="example.org")).data == {"result": 1}
    r = await api.get("/api/commands/list_online_users")
    assert r.data["result"] == ["alice@localhost", "bob@example.org"]
    r = await api.get("/api/users/alice@localhost/sessions")
    assert [s["jid"] for s in r.data["items"]] == ["alice@localhost/one", "alice@localhost/two"]
    assert all(s["transport"] == "tcp" and s["ip"] for s in r.data["items"])
    scoped = Api(await make_token(domain="example.org"))
    r = await scoped.get("/api/sessions", domain="example.org")
    assert [s["jid"] for s in r.data["items"]] == ["bob@example.org/x"]
    assert (await scoped.delete("/api/sessions/alice@localhost/one")).status_code == 403
    assert len(xmpp.server.sessions) == 3
    for raw in raws:
        raw.close()
