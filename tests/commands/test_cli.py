"""`manage.py xmppctl` in this process with no server running: the commands that need only
the database run here, the others say the server is needed; help; argument parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from commands import registry
from commands.management.commands.xmppctl import Command as Xmppctl, format_result, parse_args

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_server(settings: Any, tmp_path: Path) -> None:
    """A data dir without xmppctl.json: no server runs; two hosted domains."""
    settings.XMPP_DATA_DIR = tmp_path
    settings.XMPP_DOMAINS = ["localhost", "example.org"]


def ctl(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    """Run `manage.py xmppctl <words>` as the shell would; (exit code, stdout, stderr)."""
    code = 0
    try:
        Xmppctl().run_from_argv(["manage.py", "xmppctl", *words])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ctl(capsys, "help")
    assert code == 0
    for cmd in registry.all_commands():
        assert f"  {cmd.name}" in out
    assert "register --jid <jid> --password <password>" in out
    code, out, _ = ctl(capsys, "help", "delete_old_offline")
    assert "--days: int (range 0..36500)" in out and "runs as a task" in out
    code, _, err = ctl(capsys, "help", "nope")
    assert code == 1 and "no command 'nope'" in err


def test_account_lifecycle_from_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from accounts.actions import check_account_password, get_account

    assert ctl(capsys, "register", "--jid", "alice@localhost", "--password", "pw1")[:2] == (0, "ok\n")
    assert ctl(capsys, "register", "--jid=bob@example.org", "--password=pw2")[0] == 0
    code, _, err = ctl(capsys, "register", "--jid", "alice@localhost", "--password", "pw1")
    assert code == 1 and "conflict: the account alice@localhost already exists" in err
    code, out, _ = ctl(capsys, "list_users")
    lines = out.splitlines()
    assert lines[0].split() == ["jid", "active", "created_at", "last_logout_at"]
    assert [line.split()[0] for line in lines[1:]] == ["bob@example.org", "alice@localhost"]
    code, out, _ = ctl(capsys, "list_users", "--domain", "localhost", "--json")
    assert [u["jid"] for u in json.loads(out)] == ["alice@localhost"]
    assert ctl(capsys, "count_users")[1] == "2\n"
    assert ctl(capsys, "change_password", "--jid", "alice@localhost", "--password", "new")[0] == 0
    assert check_account_password("alice", "localhost", "new")
    assert ctl(capsys, "disable_account", "--jid", "alice@localhost")[0] == 0
    assert not get_account("alice", "localhost").is_active
    code, out, _ = ctl(capsys, "user_info", "--jid", "alice@localhost")
    assert "active: no" in out and "roster_items: 0" in out
    assert ctl(capsys, "enable_account", "--jid", "alice@localhost")[0] == 0
    assert get_account("alice", "localhost").is_active
    assert ctl(capsys, "unregister", "--jid", "alice@localhost")[0] == 0
    assert get_account("alice", "localhost") is None
    code, _, err = ctl(capsys, "unregister", "--jid", "alice@localhost")
    assert code == 1 and "not-found" in err


def test_roster_and_motd_from_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from commands.actions import get_motd
    from rosters.actions import do_set_item

    ctl(capsys, "register", "--jid", "alice@localhost", "--password", "pw")
    do_set_item("alice", "localhost", "bob@example.org", "Bob", ("Friends",))
    code, out, _ = ctl(capsys, "roster_get", "--jid", "alice@localhost")
    assert code == 0 and "bob@example.org  Bob   none" in out and '["Friends"]' in out
    assert ctl(capsys, "set_motd", "--domain", "localhost", "--body", "Hello all")[0] == 0
    assert get_motd("localhost").body == "Hello all"
    assert "body: Hello all" in ctl(capsys, "get_motd", "--domain", "localhost")[1]
    assert ctl(capsys, "delete_motd", "--domain", "localhost")[0] == 0
    assert get_motd("localhost") is None


def test_tokens_from_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from commands.actions import authenticate_token

    code, out, _ = ctl(capsys, "create_api_token", "--name", "deploy", "--domain", "example.org", "--read-only",
                       "--json")
    created = json.loads(out)
    assert code == 0 and created["scope"] == "example.org:read"
    assert authenticate_token(created["token"]).domain == "example.org"
    code, out, _ = ctl(capsys, "list_api_tokens")
    assert "deploy" in out and created["token"] not in out
    assert ctl(capsys, "revoke_api_token", "--id", str(created["id"]))[0] == 0
    assert authenticate_token(created["token"]) is None


def test_tasks_from_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from commands import actions
    from tests.commands.helpers import SERVER_ADMIN

    run = actions.do_create_run("announce_all", {"body": "x"}, SERVER_ADMIN.as_dict(), "cli")
    code, out, _ = ctl(capsys, "list_tasks")
    assert str(run.id) in out and "queued" in out
    code, out, _ = ctl(capsys, "task_cancel", "--task-id", str(run.id))
    assert code == 0 and "status: cancelled" in out
    assert "status: cancelled" in ctl(capsys, "task_status", "--task-id", str(run.id))[1]


def test_live_commands_need_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    for words in (["stats"], ["kick_session", "--jid", "a@localhost/r"], ["announce_all", "--body", "x"]):
        code, _, err = ctl(capsys, *words)
        assert code == 1 and "needs the running server" in err and "xmppctl.json" in err


def test_argument_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = ctl(capsys, "register", "--jid", "alice@localhost")
    assert code == 1 and "bad-request" in err and "--password: is required" in err
    code, _, err = ctl(capsys, "register", "--nope", "x")
    assert code == 1 and "register has no argument --nope" in err
    code, _, err = ctl(capsys, "register", "alice")
    assert code == 1 and "unexpected 'alice'" in err
    code, _, err = ctl(capsys, "frobnicate")
    assert code == 1 and "no command 'frobnicate'" in err
    code, _, err = ctl(capsys, "delete_old_offline", "--days", "-3")
    assert code == 1 and "--days: must be at least 0" in err


def test_parse_args_and_format_result() -> None:
    cmd = registry.get("create_api_token")
    assert parse_args(cmd, ["--name", "x", "--read-only"]) == {"name": "x", "read_only": "true"}
    assert parse_args(cmd, ["--name=x", "--no-read-only"]) == {"name": "x", "read_only": "false"}
    assert format_result(registry.get("count_users"), 3) == "3"
    assert format_result(registry.get("register"), None) == "ok"
    assert format_result(registry.get("list_online_users"), ["a@x", "b@x"]) == "a@x\nb@x"
