"""The registry: XEP-0122-style validation, permissions, actors, registration."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.test import override_settings

from commands import registry
from commands import execution
from commands import permissions
from commands import validation
from commands import settings as cmd_settings
from commands.permissions import check_permission
from commands.registry import Actor, Arg, Command, CommandError, Context
from commands.validation import validate
from xmppcore.jid import JID


def _noop(ctx: Context, **kwargs: object) -> None:
    return None


def cmd(*args: Arg, permission: str = "server_admin", read_only: bool = False) -> Command:
    return Command("t", "test", args, "none", permission, _noop, read_only=read_only)


def fields_of(command: Command, raw: dict, **kw: object) -> dict[str, str]:
    with pytest.raises(CommandError) as exc:
        validate(command, raw, **kw)
    assert exc.value.code == "bad-request"
    return exc.value.fields


# -- validation --------------------------------------------------------------------------

def test_int_is_coerced_and_range_checked() -> None:
    c = cmd(Arg("n", "int", min=1, max=10))
    assert validate(c, {"n": "7"}) == {"n": 7}
    assert validate(c, {"n": 10}) == {"n": 10}
    assert fields_of(c, {"n": "0"}) == {"n": "must be at least 1"}
    assert fields_of(c, {"n": 11}) == {"n": "must be at most 10"}
    assert fields_of(c, {"n": "seven"}) == {"n": "must be an integer"}
    assert fields_of(c, {"n": True}) == {"n": "must be an integer"}
    assert fields_of(c, {"n": 2.5}) == {"n": "must be an integer"}


def test_bool_accepts_xep0004_values() -> None:
    c = cmd(Arg("b", "bool", required=False, default=False))
    assert validate(c, {"b": "1"}) == {"b": True}
    assert validate(c, {"b": "false"}) == {"b": False}
    assert validate(c, {}) == {"b": False}
    assert fields_of(c, {"b": "maybe"}) == {"b": "must be a boolean (true or false)"}


def test_string_length_regex_and_choices() -> None:
    c = cmd(Arg("s", "string", min=2, max=4, regex=r"[a-z]+"), Arg("c", "list-single", choices=("x", "y")))
    assert validate(c, {"s": " ab ", "c": "x"}) == {"s": "ab", "c": "x"}
    f = fields_of(c, {"s": "a", "c": "z"})
    assert f == {"s": "must have at least 2 characters", "c": "must be one of x, y"}
    assert fields_of(c, {"s": "abcde", "c": "y"}) == {"s": "must have at most 4 characters"}
    assert fields_of(c, {"s": "AB", "c": "y"}) == {"s": "does not match [a-z]+"}


def test_jid_and_domain_syntax() -> None:
    c = cmd(Arg("jid", "jid"), Arg("domain", "domain", required=False))
    out = validate(c, {"jid": "Alice@LocalHost/Res", "domain": "Example.ORG"})
    assert out == {"jid": JID("alice", "localhost", "Res"), "domain": "example.org"}
    f = fields_of(c, {"jid": "a@b@c", "domain": "user@example.org"})
    assert f["jid"].startswith("is not a valid JID")
    assert f["domain"] == "must be a domain name, not a JID"


def test_jids_and_list_multi() -> None:
    c = cmd(Arg("jids", "jids", min=1, max=2), Arg("m", "list-multi", choices=("a", "b"), required=False))
    out = validate(c, {"jids": "a@x, b@x a@x", "m": ["a", "b", "a"]})
    assert out == {"jids": [JID("a", "x", None), JID("b", "x", None)], "m": ["a", "b"]}
    f = fields_of(c, {"jids": ["a@x", "b@x", "c@x"], "m": ["c"]})
    assert f == {"jids": "must have at most 2 JIDs", "m": "c not among a, b"}


def test_text_multi_lines_and_datetime() -> None:
    c = cmd(Arg("t", "text"), Arg("when", "datetime"))
    out = validate(c, {"t": ["line 1", "line 2"], "when": "2024-01-31T12:00:00Z"})
    assert out["t"] == "line 1\nline 2"
    assert out["when"] == datetime(2024, 1, 31, 12, tzinfo=timezone.utc)
    assert validate(c, {"t": "x", "when": "2024-01-31T12:00:00"})["when"].tzinfo is timezone.utc
    assert "date and time" in fields_of(c, {"t": "x", "when": "yesterday"})["when"]


def test_required_default_and_unknown_arguments() -> None:
    c = cmd(Arg("a", "string"), Arg("b", "string", required=False, default="dflt"),
            Arg("c", "jids", required=False))
    assert validate(c, {"a": "x"}) == {"a": "x", "b": "dflt", "c": []}
    f = fields_of(c, {"a": "", "zzz": 1})
    assert f == {"a": "is required", "zzz": "unknown argument"}


def test_strict_mode_wants_json_types() -> None:
    c = cmd(Arg("n", "int"), Arg("b", "bool", required=False), Arg("s", "string", required=False))
    assert validate(c, {"n": 3, "b": True}, strict=True) == {"n": 3, "b": True, "s": None}
    f = fields_of(c, {"n": "3", "b": "true", "s": None}, strict=True)
    assert f == {"n": "must be an integer", "b": "must be a boolean",
                 "s": "may not be null (leave it out instead)"}


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError):
        Arg("x", "float")
    with pytest.raises(ValueError):
        Arg("x", "list-single")
    with pytest.raises(ValueError):
        Command("x", "d", (), "maybe", "server_admin", _noop)
    with pytest.raises(ValueError):
        Command("x", "d", (Arg("a", "int"), Arg("a", "int")), "none", "server_admin", _noop)


def test_register_get_and_duplicates() -> None:
    assert registry.get("register").name == "register"
    with pytest.raises(CommandError) as exc:
        registry.get("no-such-command")
    assert exc.value.code == "not-found"
    c = Command("register", "again", (), "none", "server_admin", _noop)
    with pytest.raises(ValueError):
        registry.register(c)
    names = [c.name for c in registry.all_commands()]
    for required in ("register", "unregister", "change_password", "disable_account", "enable_account",
                     "list_users", "list_sessions", "kick_session", "roster_get", "roster_add", "roster_remove",
                     "send_message", "announce_online", "announce_all", "set_motd", "delete_motd", "stats",
                     "reload", "delete_old_offline", "export_user"):
        assert required in names
    node = "http://jabber.org/protocol/admin#add-user"
    assert registry.by_xep0133_node(node).name == "register"


# -- permissions ---------------------------------------------------------------------------

ALICE = JID("alice", "localhost", None)
SERVER = Actor(None, True, frozenset(), "rest")
DOMAIN_ADMIN = Actor(JID("boss", "localhost", None), False, frozenset({"localhost"}), "adhoc")
USER = Actor(ALICE, False, frozenset(), "adhoc")


def denied(command: Command, actor: Actor, args: dict) -> str:
    with pytest.raises(CommandError) as exc:
        check_permission(command, actor, args)
    assert exc.value.code == "forbidden"
    return exc.value.message


def test_server_admin_commands() -> None:
    c = cmd(Arg("jid", "jid"))
    check_permission(c, SERVER, {"jid": ALICE})
    denied(c, DOMAIN_ADMIN, {"jid": ALICE})
    denied(c, USER, {"jid": ALICE})


def test_domain_admin_commands_need_their_domain() -> None:
    c = cmd(Arg("jid", "jid"), Arg("domain", "domain", required=False), permission="domain_admin")
    check_permission(c, DOMAIN_ADMIN, {"jid": ALICE, "domain": None})
    assert "example.org" in denied(c, DOMAIN_ADMIN, {"jid": JID("bob", "example.org", None), "domain": None})
    denied(c, DOMAIN_ADMIN, {"jid": ALICE, "domain": "example.org"})
    denied(c, USER, {"jid": ALICE, "domain": None})
    no_scope = cmd(Arg("domain", "domain", required=False), permission="domain_admin")
    assert "domain you administer" in denied(no_scope, DOMAIN_ADMIN, {"domain": None})
    check_permission(no_scope, DOMAIN_ADMIN, {"domain": "localhost"})


def test_user_commands_on_own_account_only() -> None:
    c = cmd(Arg("jid", "jid"), permission="user")
    check_permission(c, USER, {"jid": ALICE})
    check_permission(c, USER, {"jid": ALICE.with_resource("phone")})
    assert "your own account" in denied(c, USER, {"jid": JID("bob", "localhost", None)})
    check_permission(c, DOMAIN_ADMIN, {"jid": JID("bob", "localhost", None)})
    denied(c, DOMAIN_ADMIN, {"jid": JID("bob", "example.org", None)})


def test_read_only_actors_run_read_only_commands_only() -> None:
    reader = Actor(None, True, frozenset(), "rest", read_only=True)
    check_permission(cmd(read_only=True), reader, {})
    assert "read-only" in denied(cmd(), reader, {})


@override_settings(XMPP_ADMINS=["root@localhost"], XMPP_DOMAIN_ADMINS="example.org=boss@example.org Ops@localhost")
def test_actor_for_jid_reads_the_settings() -> None:
    root = permissions.actor_for_jid(JID.parse("root@localhost/laptop"))
    assert root.is_server_admin and root.jid == JID("root", "localhost", None)
    ops = permissions.actor_for_jid(JID.parse("ops@localhost"), source="rpc")
    assert not ops.is_server_admin and ops.admin_domains == {"example.org"} and ops.source == "rpc"
    nobody = permissions.actor_for_jid(JID.parse("alice@localhost"))
    assert not nobody.is_server_admin and not nobody.admin_domains


def test_parse_domain_admins() -> None:
    parsed = cmd_settings.parse_domain_admins("a.org=x@a.org y@b.org; b.org = z@b.org;a.org=w@a.org")
    assert parsed == {"a.org": {JID.parse("x@a.org"), JID.parse("y@b.org"), JID.parse("w@a.org")},
                      "b.org": {JID.parse("z@b.org")}}


def test_actor_round_trips_through_json() -> None:
    actor = Actor(JID.parse("boss@localhost"), False, frozenset({"localhost"}), "adhoc", read_only=True)
    assert Actor.from_dict(actor.as_dict()) == actor
    assert actor.owner == "jid:boss@localhost"
    assert Actor(None, True, frozenset(), "rest", label="token:3").owner == "token:3"


def test_to_json() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert validation.to_json({"j": ALICE, "t": (1, when), "s": {"x"}}) == {
        "j": "alice@localhost", "t": [1, "2024-01-02T03:04:05Z"], "s": ["x"]}


async def test_run_validates_then_checks_permission_then_calls(db: None) -> None:
    calls: list[dict] = []

    async def fn(ctx: Context, n: int) -> int:
        calls.append({"actor": ctx.actor, "n": n})
        return n * 2

    c = registry.register(Command("t_double", "double", (Arg("n", "int"),), "int", "server_admin", fn))
    try:
        assert await execution.run("t_double", SERVER, {"n": "21"}) == 42
        with pytest.raises(CommandError) as exc:
            await execution.run("t_double", USER, {"n": "1"})
        assert exc.value.code == "forbidden"
        with pytest.raises(CommandError) as exc:
            await execution.run("t_double", SERVER, {"n": "x"})
        assert exc.value.code == "bad-request"
        assert calls == [{"actor": SERVER, "n": 21}]
    finally:
        registry.unregister(c.name)
