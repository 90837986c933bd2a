"""The account management commands, through call_command, on the real database."""

from __future__ import annotations

from io import StringIO
from typing import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import actions
from accounts.management.commands import _common

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _domains(settings) -> None:
    settings.XMPP_DOMAINS = ["localhost", "example.org"]
    settings.XMPP_SCRAM_ITERATIONS = 4096


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Answers getpass will give, in order; asserting every one was used."""
    answers: list[str] = []
    asked: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(_common.getpass, "getpass", fake_getpass)
    yield answers
    assert not answers, "unused prompt answers"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


class TestAdduser:
    def test_with_password(self) -> None:
        assert "Created alice@localhost" in run("adduser", "alice@localhost", "--password", "pw")
        assert actions.check_account_password("alice", "localhost", "pw")

    def test_prompts_twice(self, prompts: list[str]) -> None:
        prompts.extend(["s3cret", "s3cret"])
        run("adduser", "bob@example.org")
        assert actions.check_account_password("bob", "example.org", "s3cret")

    def test_prompts_differ(self, prompts: list[str]) -> None:
        prompts.extend(["one", "two"])
        with pytest.raises(CommandError, match="differ"):
            run("adduser", "bob@localhost")
        assert not actions.account_exists("bob", "localhost")

    def test_empty_password(self, prompts: list[str]) -> None:
        prompts.extend(["", ""])
        with pytest.raises(CommandError, match="empty"):
            run("adduser", "bob@localhost")

    def test_no_input_without_password(self) -> None:
        with pytest.raises(CommandError, match="--password"):
            run("adduser", "bob@localhost", "--no-input")

    def test_exists(self) -> None:
        run("adduser", "alice@localhost", "--password", "pw")
        with pytest.raises(CommandError, match="already exists"):
            run("adduser", "Alice@localhost", "--password", "other")
        assert actions.check_account_password("alice", "localhost", "pw")

    @pytest.mark.parametrize("jid", ["alice", "localhost", "a b@localhost", "alice@localhost/res"])
    def test_invalid_jid(self, jid: str) -> None:
        with pytest.raises(CommandError):
            run("adduser", jid, "--password", "pw")

    def test_unhosted_domain(self) -> None:
        with pytest.raises(CommandError, match="not a domain this server hosts"):
            run("adduser", "alice@elsewhere.example", "--password", "pw")

    def test_exit_status_is_non_zero(self) -> None:
        """From the shell a CommandError exits with status 1."""
        from django.core.management import ManagementUtility

        with pytest.raises(SystemExit) as exc:
            ManagementUtility(["manage.py", "adduser", "nobody", "--password", "x"]).execute()
        assert exc.value.code == 1


class TestDeluser:
    def test_delete(self) -> None:
        actions.do_create_account("alice", "localhost", "pw")
        assert "Deleted alice@localhost" in run("deluser", "alice@localhost")
        assert not actions.account_exists("alice", "localhost")

    def test_missing(self) -> None:
        with pytest.raises(CommandError, match="no account ghost@localhost"):
            run("deluser", "ghost@localhost")

    def test_invalid(self) -> None:
        with pytest.raises(CommandError):
            run("deluser", "localhost")


class TestPasswd:
    def test_with_password(self) -> None:
        actions.do_create_account("alice", "localhost", "old")
        assert "changed" in run("passwd", "alice@localhost", "--password", "new")
        assert actions.check_account_password("alice", "localhost", "new")

    def test_prompts(self, prompts: list[str]) -> None:
        actions.do_create_account("alice", "localhost", "old")
        prompts.extend(["new", "new"])
        run("passwd", "alice@localhost")
        assert actions.check_account_password("alice", "localhost", "new")

    def test_missing_account_does_not_prompt(self, prompts: list[str]) -> None:
        with pytest.raises(CommandError, match="no account ghost@localhost"):
            run("passwd", "ghost@localhost")


class TestListusers:
    def test_list(self) -> None:
        for jid in ("zed@localhost", "amy@localhost", "bob@example.org"):
            actions.do_create_account(jid, None, "pw")
        actions.do_set_active("zed", "localhost", False)
        assert run("listusers").splitlines() == [
            "bob@example.org", "amy@localhost", "zed@localhost  (disabled)"]
        assert run("listusers", "localhost").splitlines() == [
            "amy@localhost", "zed@localhost  (disabled)"]
        assert run("listusers", "nowhere.example") == ""

    def test_invalid_domain(self) -> None:
        with pytest.raises(CommandError):
            run("listusers", "bad domain!")
