"""XEP-0050 ad-hoc commands over the registry, on the wire: disco, single- and multi-stage
execution with XEP-0122 validation and XEP-0141 pages, errors of XEP-0050 §4.4, permissions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from lxml import etree
from slixmpp.exceptions import IqError

from commands import registry
from commands.registry import Arg, Command
from xmppcore import forms
from tests.clients import connect

pytestmark = pytest.mark.django_db(transaction=True)

CMD = "http://jabber.org/protocol/commands"
XD = "jabber:x:data"
XDV = "http://jabber.org/protocol/xdata-validate"
XDL = "http://jabber.org/protocol/xdata-layout"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ITEMS = "http://jabber.org/protocol/disco#items"
INFO = "http://jabber.org/protocol/disco#info"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


@pytest.fixture
def admins(settings: Any) -> None:
    settings.XMPP_ADMINS = ["admin@localhost"]
    settings.XMPP_DOMAIN_ADMINS = "example.org=dadmin@example.org"


async def send_iq(client: Any, payload: etree._Element | str, to: str = "localhost", type_: str = "set",
                  timeout: float = 5.0) -> etree._Element:
    """Send an IQ with `payload`; the answer (result or error) as an lxml element."""
    iq = client.make_iq_set(ito=to) if type_ == "set" else client.make_iq_get(ito=to)
    text = payload if isinstance(payload, str) else etree.tostring(payload, encoding="unicode")
    iq.xml.append(ET.fromstring(text))
    try:
        answer = await iq.send(timeout=timeout)
    except IqError as err:
        answer = err.iq
    return etree.fromstring(ET.tostring(answer.xml))


def command(node: str, action: str | None = None, sessionid: str | None = None,
            submit: dict[str, Any] | None = None, form_type: str | None = None) -> etree._Element:
    el = etree.Element(q(CMD, "command"), nsmap={None: CMD}, node=node)
    if action is not None:
        el.set("action", action)
    if sessionid is not None:
        el.set("sessionid", sessionid)
    if submit is not None:
        el.append(forms.build_form(forms.submit_form(submit, form_type)))
    return el


async def execute(client: Any, node: str, **kw: Any) -> etree._Element:
    to = kw.pop("to", "localhost")
    return await send_iq(client, command(node, **kw), to=to)


def cmd_of(reply: etree._Element) -> etree._Element:
    assert reply.get("type") == "result", etree.tostring(reply)
    el = reply.find(q(CMD, "command"))
    assert el is not None, etree.tostring(reply)
    return el


def form_of(cmd_el: etree._Element) -> forms.Form:
    x = cmd_el.find(q(XD, "x"))
    assert x is not None, etree.tostring(cmd_el)
    return forms.parse_form(x)


def actions_of(cmd_el: etree._Element) -> tuple[str | None, list[str]]:
    actions = cmd_el.find(q(CMD, "actions"))
    if actions is None:
        return None, []
    return actions.get("execute"), [etree.QName(c).localname for c in actions]


def error_of(reply: etree._Element) -> tuple[str, str, str | None]:
    """(type, defined condition, XEP-0050 specific condition) of an error reply."""
    assert reply.get("type") == "error", etree.tostring(reply)
    error = reply.find(q("jabber:client", "error"))
    defined = [etree.QName(c).localname for c in error if etree.QName(c).namespace == STANZAS
               and etree.QName(c).localname != "text"]
    specific = [etree.QName(c).localname for c in error if etree.QName(c).namespace == CMD]
    return error.get("type"), defined[0], specific[0] if specific else None


def notes_of(cmd_el: etree._Element) -> list[tuple[str, str]]:
    return [(n.get("type"), n.text or "") for n in cmd_el.findall(q(CMD, "note"))]


# -- a multi-page command, registered for these tests ------------------------------------------

def _survey(ctx: Any, **args: Any) -> dict[str, Any]:
    return {k: (sorted(map(str, v)) if isinstance(v, list) else v) for k, v in args.items()}


SURVEY = Command(
    "test_survey", "A survey with many typed questions.", (
        Arg("code", "string", label="Code", regex=r"[A-Z]{3}-[0-9]{2}", max=6),
        Arg("count", "int", label="Count", min=1, max=10),
        Arg("flag", "bool", label="Flag", required=False, default=False),
        Arg("members", "jids", label="Members", required=False, max=3),
        Arg("colours", "list-multi", label="Colours", choices=("red", "green", "blue"), required=False),
        Arg("when", "datetime", label="When"),
        Arg("notes", "text", label="Notes", required=False, help="Anything else"),
    ), "dict", "server_admin", _survey, category="tests")


@pytest.fixture
def survey() -> Any:
    registry.register(SURVEY)
    yield SURVEY
    registry.unregister(SURVEY.name)


# -- disco (XEP-0050 §2) -------------------------------------------------------------------------

async def test_disco_lists_the_commands_each_requester_may_run(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    reply = await send_iq(admin, f"<query xmlns='{ITEMS}' node='{CMD}'/>", type_="get")
    items = {i.get("node"): i for i in reply.find(q(ITEMS, "query"))}
    assert reply.find(q(ITEMS, "query")).get("node") == CMD
    for node in ("http://jabber.org/protocol/admin#add-user", "http://jabber.org/protocol/admin#delete-user",
                 "http://jabber.org/protocol/admin#get-online-users-num", "stats", "user_info"):
        assert node in items, node
    assert items["stats"].get("jid") == "localhost" and items["stats"].get("name")
    assert items["http://jabber.org/protocol/admin#add-user"].get("name") == "Adding a User"
    assert "register" not in items  # behind its XEP-0133 node, listed once
    reply = await send_iq(bob, f"<query xmlns='{ITEMS}' node='{CMD}'/>", type_="get")
    nodes = {i.get("node") for i in reply.find(q(ITEMS, "query"))}
    assert "user_info" in nodes and "roster_add" in nodes
    assert not any(n.startswith("http://jabber.org/protocol/admin#") for n in nodes), nodes
    assert "stats" not in nodes and "list_users" not in nodes and "task_status" not in nodes


async def test_disco_info_of_nodes(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    reply = await send_iq(admin, f"<query xmlns='{INFO}'/>", type_="get")
    assert CMD in [f.get("var") for f in reply.iter(q(INFO, "feature"))]
    reply = await send_iq(admin, f"<query xmlns='{INFO}' node='{CMD}'/>", type_="get")
    (ident,) = reply.iter(q(INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("automation", "command-list")
    reply = await send_iq(admin, f"<query xmlns='{INFO}' node='stats'/>", type_="get")
    query = reply.find(q(INFO, "query"))
    assert query.get("node") == "stats"
    (ident,) = query.iter(q(INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("automation", "command-node")
    assert {CMD, XD} <= {f.get("var") for f in query.iter(q(INFO, "feature"))}
    reply = await send_iq(bob, f"<query xmlns='{INFO}' node='stats'/>", type_="get")
    assert error_of(reply)[:2] == ("auth", "forbidden")  # §2.2: 403 for a command you may not run
    reply = await send_iq(admin, f"<query xmlns='{INFO}' node='no-such-command'/>", type_="get")
    assert error_of(reply)[:2] == ("cancel", "item-not-found")


# -- a single-stage command ----------------------------------------------------------------------

async def test_single_stage_user_command(xmpp: Any, admins: None) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    first = cmd_of(await execute(bob, "user_info", action="execute"))
    assert first.get("status") == "executing" and first.get("node") == "user_info"
    sid = first.get("sessionid")
    assert sid
    assert actions_of(first) == ("complete", ["complete"])
    form = form_of(first)
    assert form.type == "form"
    jid_field = form.field("jid")
    assert jid_field.type == "jid-single" and jid_field.required
    assert jid_field.values == ["bob@localhost"]  # the user's own account, prefilled
    done = cmd_of(await execute(bob, "user_info", sessionid=sid, submit={"jid": "bob@localhost"}))
    assert done.get("status") == "completed" and done.get("sessionid") == sid
    assert actions_of(done) == (None, [])
    result = form_of(done)
    assert result.type == "result"
    assert result.field("jid").values == ["bob@localhost"]
    assert result.field("active").type == "boolean" and result.field("active").values == ["1"]
    assert result.field("roster_items").values == ["0"]
    assert ("info", "user_info: done.") in notes_of(done)
    # §3.3: a completed session's id is never valid again.
    again = await execute(bob, "user_info", sessionid=sid, submit={"jid": "bob@localhost"})
    assert error_of(again) == ("cancel", "not-allowed", "session-expired")


async def test_single_stage_validation_errors(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    first = cmd_of(await execute(admin, "list_tasks"))
    sid = first.get("sessionid")
    limit = first.find(q(XD, "x")).find(f"{q(XD, 'field')}[@var='limit']")
    validate = limit.find(q(XDV, "validate"))
    assert limit.get("type") == "text-single" and limit.find(q(XD, "required")) is None
    assert limit.findtext(q(XD, "value")) == "20"  # the argument's default
    assert validate.get("datatype") == "xs:integer"
    assert validate.find(q(XDV, "range")).attrib == {"min": "1", "max": "500"}
    for bad, text in (("abc", "not an integer"), ("501", "greater than the maximum 500"),
                      ("0", "less than the minimum 1"), (["1", "2"], "takes one value")):
        reply = await execute(admin, "list_tasks", sessionid=sid, submit={"limit": bad})
        assert error_of(reply) == ("modify", "bad-request", "bad-payload"), bad
        assert text in reply.findtext(f".//{q(STANZAS, 'text')}")
    # The session survived the errors: a valid submission completes it.
    done = cmd_of(await execute(admin, "list_tasks", sessionid=sid, submit={"limit": "5"}))
    assert done.get("status") == "completed"
    result = form_of(done)
    assert [f.var for f in result.reported] == ["id", "command", "status", "done", "total", "created_at"]
    assert result.items == []


async def test_domain_argument_is_a_list_of_hosted_domains(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    first = cmd_of(await execute(admin, "list_sessions"))
    sid = first.get("sessionid")
    domain = first.find(q(XD, "x")).find(f"{q(XD, 'field')}[@var='domain']")
    assert domain.get("type") == "list-single"
    assert {o.findtext(q(XD, "value")) for o in domain.findall(q(XD, "option"))} == {"localhost", "example.org"}
    assert domain.findtext(q(XD, "value")) == "localhost"  # the domain the command was sent to
    reply = await execute(admin, "list_sessions", sessionid=sid, submit={"domain": "nope.example"})
    assert error_of(reply)[2] == "bad-payload"
    done = cmd_of(await execute(admin, "list_sessions", sessionid=sid, submit={"domain": "localhost"}))
    result = form_of(done)
    (row,) = result.items
    assert {f.var: f.values for f in row}["jid"] == [str(admin.boundjid)]


async def test_execute_without_a_form_and_unknown_things(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    first = cmd_of(await execute(admin, "delete_old_offline"))
    sid = first.get("sessionid")
    reply = await execute(admin, "delete_old_offline", sessionid=sid)  # no <x type='submit'/>
    assert error_of(reply) == ("modify", "bad-request", "bad-payload")
    reply = await execute(admin, "delete_old_offline", sessionid=sid, action="jump")
    assert error_of(reply) == ("modify", "bad-request", "malformed-action")
    reply = await execute(admin, "delete_old_offline", sessionid="not-a-session")
    assert error_of(reply) == ("modify", "bad-request", "bad-sessionid")
    reply = await execute(admin, "stats", sessionid=sid)  # another node's session
    assert error_of(reply) == ("modify", "bad-request", "bad-sessionid")
    reply = await execute(admin, "delete_old_offline", sessionid=sid, action="prev")
    assert error_of(reply) == ("modify", "bad-request", "bad-action")  # no earlier stage
    reply = await execute(admin, "delete_old_offline", action="cancel")
    assert error_of(reply) == ("modify", "bad-request", "bad-action")  # nothing started
    reply = await execute(admin, "no-such-command")
    assert error_of(reply)[:2] == ("cancel", "item-not-found")


async def test_sessions_belong_to_their_requester(xmpp: Any, admins: None) -> None:
    await xmpp.add_user("admin")
    one = await connect(xmpp, "admin@localhost", resource="one")
    two = await connect(xmpp, "admin@localhost", resource="two")
    sid = cmd_of(await execute(one, "delete_old_offline")).get("sessionid")
    reply = await execute(two, "delete_old_offline", sessionid=sid, submit={"days": "3"})
    assert error_of(reply) == ("modify", "bad-request", "bad-sessionid")


async def test_command_without_arguments_completes_at_once(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    done = cmd_of(await execute(admin, "stats"))
    assert done.get("status") == "completed" and done.get("sessionid")
    result = form_of(done)
    assert result.type == "result"
    assert result.field("registered_users").values == ["1"]
    assert result.field("online_users").values == ["1"]
    assert result.field("sessions_by_transport").type == "text-multi"
    assert result.field("sessions_by_transport").values == ["tcp: 1"]
    assert result.field("registered_users_by_domain").values == ["localhost: 1"]


# -- a multi-stage command (XEP-0141 pages) --------------------------------------------------------

async def test_multi_stage_with_prev_next_validation(xmpp: Any, admins: None, survey: Command) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    node = survey.name
    first = cmd_of(await execute(admin, node))
    sid = first.get("sessionid")
    assert first.get("status") == "executing"
    assert actions_of(first) == ("next", ["next"])
    page1 = form_of(first)
    assert [f.var for f in page1.fields] == ["code", "count", "flag", "members", "colours"]
    (layout,) = page1.pages
    assert layout.label == "Step 1 of 2" and layout.texts == [survey.description]
    assert [(s.label, s.fieldrefs()) for s in layout.sections] == [
        ("Required", ["code", "count"]), ("Optional", ["flag", "members", "colours"])]
    assert page1.field("code").validate.regex == "[A-Z]{3}-[0-9]{2}"
    assert page1.field("count").validate == forms.Validation("xs:integer", "range", "1", "10")
    assert page1.field("members").type == "jid-multi" and page1.field("members").validate.list_max == 3
    assert page1.field("colours").type == "list-multi"
    assert page1.field("flag").type == "boolean" and page1.field("flag").values == ["0"]
    x = first.find(q(XD, "x"))
    assert x.find(q(XDL, "page")) is not None  # on the wire, in its namespace

    stage1 = {"code": "ABC-12", "count": "4", "flag": "true", "members": ["a@localhost", "b@localhost"],
              "colours": ["red", "blue"]}
    for field_name, bad, text in (("count", "11", "greater than the maximum 10"),
                                  ("code", "abc-12", "does not match"),
                                  ("colours", ["pink"], "not one of the options"),
                                  ("members", ["a@x", "b@x", "c@x", "d@x"], "at most 3"),
                                  ("flag", "maybe", "not a boolean")):
        reply = await execute(admin, node, sessionid=sid, action="next", submit={**stage1, field_name: bad})
        assert error_of(reply) == ("modify", "bad-request", "bad-payload"), field_name
        assert text in reply.findtext(f".//{q(STANZAS, 'text')}"), field_name
    reply = await execute(admin, node, sessionid=sid, action="complete", submit=stage1)
    assert error_of(reply) == ("modify", "bad-request", "bad-action")  # not the last stage

    second = cmd_of(await execute(admin, node, sessionid=sid, action="next", submit=stage1))
    assert second.get("status") == "executing" and second.get("sessionid") == sid
    assert actions_of(second) == ("complete", ["prev", "complete"])
    page2 = form_of(second)
    assert [f.var for f in page2.fields] == ["when", "notes"]
    assert page2.pages[0].label == "Step 2 of 2"
    assert page2.field("when").validate.datatype == "xs:dateTime"
    assert page2.field("notes").type == "text-multi" and page2.field("notes").desc == "Anything else"

    # prev: back to stage 1 with what was entered.
    back = cmd_of(await execute(admin, node, sessionid=sid, action="prev"))
    assert actions_of(back) == ("next", ["next"])
    assert form_of(back).field("code").values == ["ABC-12"]
    assert form_of(back).field("members").values == ["a@localhost", "b@localhost"]
    # execute = the stage's default action (next).
    second = cmd_of(await execute(admin, node, sessionid=sid, submit=stage1))
    assert form_of(second).pages[0].label == "Step 2 of 2"
    reply = await execute(admin, node, sessionid=sid, action="next", submit={"when": "2030-01-01T00:00:00Z"})
    assert error_of(reply) == ("modify", "bad-request", "bad-action")  # no stage after the last
    reply = await execute(admin, node, sessionid=sid, action="complete", submit={"when": "tomorrow"})
    assert error_of(reply)[2] == "bad-payload"
    assert "when" in reply.findtext(f".//{q(STANZAS, 'text')}")

    done = cmd_of(await execute(admin, node, sessionid=sid, action="complete",
                                submit={"when": "2030-01-02T03:04:05Z", "notes": ["line 1", "line 2"]}))
    assert done.get("status") == "completed"
    result = form_of(done)
    values = {f.var: f.values for f in result.fields}
    assert values["code"] == ["ABC-12"] and values["count"] == ["4"] and values["flag"] == ["1"]
    assert values["members"] == ["a@localhost", "b@localhost"]
    assert values["colours"] == ["blue", "red"]
    assert values["when"] == ["2030-01-02T03:04:05Z"]
    assert values["notes"] == ["line 1", "line 2"]
    reply = await execute(admin, node, sessionid=sid, action="prev")
    assert error_of(reply) == ("cancel", "not-allowed", "session-expired")


async def test_registry_error_sends_the_session_back_to_the_field(xmpp: Any, admins: None,
                                                                 survey: Command) -> None:
    # The registry checks again when the command runs: here its bound on `count` has become
    # stricter than the form's range since the session started.
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    node = survey.name
    sid = cmd_of(await execute(admin, node)).get("sessionid")
    cmd_of(await execute(admin, node, sessionid=sid, submit={"code": "ABC-12", "count": "8"}))
    registry.unregister(node)
    registry.register(Command(node, SURVEY.description, tuple(
        Arg("count", "int", label="Count", min=1, max=5) if a.name == "count" else a for a in SURVEY.args),
        "dict", "server_admin", _survey))
    reply = await execute(admin, node, sessionid=sid, action="complete", submit={"when": "2030-01-01T00:00:00Z"})
    assert error_of(reply)[2] == "bad-payload"
    assert "count: must be at most 5" in reply.findtext(f".//{q(STANZAS, 'text')}")
    # The session is back at stage 1, where `count` is.
    again = cmd_of(await execute(admin, node, sessionid=sid, action="next", submit={"code": "ABC-12", "count": "2"}))
    assert form_of(again).pages[0].label == "Step 2 of 2"
    done = cmd_of(await execute(admin, node, sessionid=sid, submit={"when": "2030-01-01T00:00:00Z"}))
    assert form_of(done).field("count").values == ["2"]


async def test_cancel_ends_the_session(xmpp: Any, admins: None, survey: Command) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    sid = cmd_of(await execute(admin, survey.name)).get("sessionid")
    canceled = cmd_of(await execute(admin, survey.name, sessionid=sid, action="cancel"))
    assert canceled.get("status") == "canceled" and canceled.get("sessionid") == sid
    assert canceled.find(q(XD, "x")) is None
    reply = await execute(admin, survey.name, sessionid=sid, submit={"code": "ABC-12", "count": "1"})
    assert error_of(reply) == ("cancel", "not-allowed", "session-expired")


async def test_submission_in_the_first_request(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    done = cmd_of(await execute(admin, "list_tasks", action="complete", submit={"limit": "7"}))
    assert done.get("status") == "completed" and form_of(done).reported is not None


# -- permissions -----------------------------------------------------------------------------------

async def test_non_admins_are_refused(xmpp: Any, admins: None, survey: Command) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await xmpp.add_user("carol")
    for node in ("stats", survey.name, "http://jabber.org/protocol/admin#add-user", "list_sessions"):
        reply = await execute(bob, node)
        assert error_of(reply)[:2] == ("auth", "forbidden"), node
    # A "user" command on somebody else's account: refused when it runs.
    sid = cmd_of(await execute(bob, "user_info")).get("sessionid")
    reply = await execute(bob, "user_info", sessionid=sid, submit={"jid": "carol@localhost"})
    assert error_of(reply)[:2] == ("auth", "forbidden")
    reply = await execute(bob, "user_info", sessionid=sid, submit={"jid": "carol@localhost"})
    assert error_of(reply) == ("cancel", "not-allowed", "session-expired")


async def test_domain_admin_sees_only_their_domain(xmpp: Any, admins: None) -> None:
    dadmin = await connect(xmpp, await xmpp.add_user("dadmin", domain="example.org"))
    add_user = "http://jabber.org/protocol/admin#add-user"
    own = await send_iq(dadmin, f"<query xmlns='{ITEMS}' node='{CMD}'/>", to="example.org", type_="get")
    assert add_user in {i.get("node") for i in own.iter(q(ITEMS, "item"))}
    other = await send_iq(dadmin, f"<query xmlns='{ITEMS}' node='{CMD}'/>", to="localhost", type_="get")
    assert add_user not in {i.get("node") for i in other.iter(q(ITEMS, "item"))}
    assert error_of(await execute(dadmin, add_user, to="localhost"))[:2] == ("auth", "forbidden")
    first = cmd_of(await execute(dadmin, add_user, to="example.org"))
    # Adding an account of another domain through example.org is refused by the registry.
    reply = await execute(dadmin, add_user, to="example.org", sessionid=first.get("sessionid"), submit={
        "accountjid": "x@localhost", "password": "pw", "password-verify": "pw"},
        form_type="http://jabber.org/protocol/admin")
    assert error_of(reply)[:2] == ("auth", "forbidden")
