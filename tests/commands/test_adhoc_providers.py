"""Ad-hoc commands that modules provide at a JID (commands.adhoc.provider), on the wire: disco
of the JID's commands node, single- and multi-stage execution with XEP-0122 checks, prev,
cancel, session ids, refusals; and the handlers a component host gets."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from lxml import etree

from commands.adhoc.provider import CommandRequest, ProvidedCommand, Reply, StaticProvider, provide
from tests.clients import connect
from tests.commands.test_adhoc import (CMD, ITEMS, actions_of, cmd_of, error_of, execute, form_of, notes_of, q,
                                       send_iq)
from xmppcore import forms
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)

BOT = "bot@localhost"
POLL_TYPE = "urn:example:poll"
SEEN: list[CommandRequest] = []


def _poll_done(request: CommandRequest) -> Reply:
    SEEN.append(request)
    result = forms.Form(type="result", title="Poll", fields=[
        forms.Field("question", "text-single", values=request.values["question"]),
        forms.Field("votes", "text-single", values=request.values["votes"])])
    return Reply("completed", form=result, notes=[("info", f"poll by {request.requester.bare} saved")])


async def _hello(request: CommandRequest) -> Reply:
    return Reply("completed", notes=[("info", f"hello {request.requester.bare} from {request.target}")])


POLL = ProvidedCommand(
    "poll", "Run a poll", _poll_done, form_type=POLL_TYPE, instructions="Two questions.",
    stages=((forms.Field("question", "text-single", label="Question", required=True),),
            (forms.Field("votes", "text-single", label="Votes", required=True,
                         validate=forms.Validation("xs:integer", "range", "1", "5")),)))
HELLO = ProvidedCommand("hello", "Say hello", _hello)
SECRET = ProvidedCommand("secret", "Admins only", _hello,
                         allowed=lambda requester, target: requester.bare == JID.parse("admin@localhost"))
STATUS = ProvidedCommand("urn:example:status", "Service status", _hello)


@pytest.fixture
def bot(xmpp: Any) -> Iterator[None]:
    SEEN.clear()
    remove = provide(xmpp.server.hooks, JID.parse(BOT), StaticProvider(POLL, HELLO, SECRET))
    yield
    remove()


def items(reply: etree._Element) -> list[tuple[str | None, str | None, str | None]]:
    assert reply.get("type") == "result", etree.tostring(reply)
    return [(i.get("jid"), i.get("node"), i.get("name")) for i in reply.iter(q(ITEMS, "item"))]


async def test_disco_lists_the_commands_of_the_jid(xmpp: Any, bot: None) -> None:
    await xmpp.add_user("bot")
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    query = f"<query xmlns='{ITEMS}' node='{CMD}'/>"
    assert items(await send_iq(bob, query, to=BOT, type_="get")) == [
        (BOT, "poll", "Run a poll"), (BOT, "hello", "Say hello")]
    assert (BOT, "secret", "Admins only") in items(await send_iq(admin, query, to=BOT, type_="get"))
    assert all(jid == "localhost" for jid, _, _ in items(await send_iq(admin, query, type_="get")))


async def test_single_stage_and_refusals(xmpp: Any, bot: None) -> None:
    await xmpp.add_user("bot")
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    done = cmd_of(await execute(bob, "hello", to=BOT))
    assert done.get("status") == "completed" and done.get("sessionid")
    assert notes_of(done) == [("info", f"hello bob@localhost from {BOT}")]
    assert error_of(await execute(bob, "secret", to=BOT))[:2] == ("auth", "forbidden")
    assert error_of(await execute(bob, "nope", to=BOT))[:2] == ("cancel", "item-not-found")
    # Nobody provides commands at alice's JID: not answered there.
    await xmpp.add_user("alice")
    assert error_of(await execute(bob, "hello", to="alice@localhost"))[1] == "service-unavailable"


async def test_multi_stage_with_prev_validation_and_expiry(xmpp: Any, bot: None) -> None:
    await xmpp.add_user("bot")
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    first = cmd_of(await execute(bob, "poll", to=BOT))
    sid = first.get("sessionid")
    assert first.get("status") == "executing" and actions_of(first) == ("next", ["next"])
    form = form_of(first)
    assert form.form_type == POLL_TYPE and form.instructions == ["Two questions."]
    assert form.pages[0].label == "Step 1 of 2" and form.pages[0].fieldrefs() == ["question"]
    second = cmd_of(await execute(bob, "poll", to=BOT, sessionid=sid, action="next",
                                  submit={"question": "Tea?"}, form_type=POLL_TYPE))
    assert actions_of(second) == ("complete", ["prev", "complete"])
    assert form_of(second).field("votes").validate.max == "5"
    back = cmd_of(await execute(bob, "poll", to=BOT, sessionid=sid, action="prev"))
    assert form_of(back).field("question").values == ["Tea?"]  # what was entered before
    cmd_of(await execute(bob, "poll", to=BOT, sessionid=sid, action="next", submit={"question": "Coffee?"}))
    reply = await execute(bob, "poll", to=BOT, sessionid=sid, action="complete", submit={"votes": "9"})
    assert error_of(reply) == ("modify", "bad-request", "bad-payload")  # XEP-0122 range
    assert SEEN == []
    done = cmd_of(await execute(bob, "poll", to=BOT, sessionid=sid, action="complete", submit={"votes": "3"}))
    assert done.get("status") == "completed" and done.get("sessionid") == sid
    assert notes_of(done) == [("info", "poll by bob@localhost saved")]
    assert form_of(done).values() == {"question": ["Coffee?"], "votes": ["3"]}
    assert [(r.node, str(r.target), r.values) for r in SEEN] == [
        ("poll", BOT, {"question": ["Coffee?"], "votes": ["3"]})]
    expired = await execute(bob, "poll", to=BOT, sessionid=sid, submit={"votes": "3"})
    assert error_of(expired) == ("cancel", "not-allowed", "session-expired")


async def test_cancel_and_foreign_sessions(xmpp: Any, bot: None) -> None:
    await xmpp.add_user("bot")
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    carol = await connect(xmpp, await xmpp.add_user("carol"))
    sid = cmd_of(await execute(bob, "poll", to=BOT)).get("sessionid")
    stolen = await execute(carol, "poll", to=BOT, sessionid=sid, submit={"question": "Mine?"})
    assert error_of(stolen) == ("modify", "bad-request", "bad-sessionid")
    elsewhere = await execute(bob, "poll", sessionid=sid, submit={"question": "Here?"})  # to the domain
    assert error_of(elsewhere) == ("modify", "bad-request", "bad-sessionid")
    canceled = cmd_of(await execute(bob, "poll", to=BOT, sessionid=sid, action="cancel"))
    assert canceled.get("status") == "canceled" and SEEN == []
    assert error_of(await execute(bob, "poll", to=BOT, sessionid=sid))[2] == "session-expired"


async def test_a_provider_at_the_domain_adds_to_the_registry(xmpp: Any) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    query = f"<query xmlns='{ITEMS}' node='{CMD}'/>"
    before = items(await send_iq(bob, query, type_="get"))
    remove = provide(xmpp.server.hooks, JID.parse("localhost"), StaticProvider(STATUS))
    try:
        after = items(await send_iq(bob, query, type_="get"))
        assert after == before + [("localhost", "urn:example:status", "Service status")]
        done = cmd_of(await execute(bob, "urn:example:status"))
        assert notes_of(done) == [("info", "hello bob@localhost from localhost")]
    finally:
        remove()
    assert items(await send_iq(bob, query, type_="get")) == before
    assert error_of(await execute(bob, "urn:example:status"))[:2] == ("cancel", "item-not-found")


async def test_a_component_host_offers_its_own_commands_on_the_wire(make_server: Any) -> None:
    """A real component host (tests/xmppd/echo_component.py): its domain and an entity on it
    offer provided commands, listed in disco and executed over the wire; its disco#info
    names the commands feature; a user domain keeps the registry's."""
    from tests.xmppd.test_hosts import component_server

    srv = await component_server(make_server)
    service, room = JID.parse("test.localhost"), JID.parse("room@test.localhost")
    remove = [provide(srv.server.hooks, service, StaticProvider(STATUS)),
              provide(srv.server.hooks, room, StaticProvider(HELLO))]
    try:
        bob = await connect(srv, await srv.add_user("bob"))
        query = f"<query xmlns='{ITEMS}' node='{CMD}'/>"
        assert items(await send_iq(bob, query, to="test.localhost", type_="get")) == [
            ("test.localhost", "urn:example:status", "Service status")]
        assert items(await send_iq(bob, query, to="room@test.localhost", type_="get")) == [
            ("room@test.localhost", "hello", "Say hello")]
        done = cmd_of(await execute(bob, "hello", to="room@test.localhost"))
        assert done.get("status") == "completed"
        assert notes_of(done) == [("info", "hello bob@localhost from room@test.localhost")]
        status = cmd_of(await execute(bob, "urn:example:status", to="test.localhost"))
        assert notes_of(status) == [("info", "hello bob@localhost from test.localhost")]
        info = await send_iq(bob, "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                             to="test.localhost", type_="get")
        assert CMD in [f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")]
        missing = await execute(bob, "hello", to="test.localhost")  # not offered at the service
        assert error_of(missing)[1] == "item-not-found"
    finally:
        for undo in remove:
            undo()
