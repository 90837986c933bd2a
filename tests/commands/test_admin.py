"""The Django admin pages of the commands app: a token is shown once and stored as a digest;
messages of the day reach the running server; runs can be cancelled."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from commands.actions import authenticate_token, do_create_run, get_motd
from commands.models import ApiToken, CommandRun
from tests.commands.helpers import SERVER_ADMIN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client() -> Client:
    user = User.objects.create_superuser("root", "root@example.org", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_token_created_in_the_admin_is_shown_once(admin_client: Client) -> None:
    r = admin_client.post("/admin/commands/apitoken/add/", {"name": "monitoring", "domain": "", "read_only": "on"},
                          follow=True)
    assert r.status_code == 200
    shown = re.search(r"(xst_[A-Za-z0-9_-]{20,})", r.content.decode())
    assert shown, r.content.decode()[:2000]
    token = ApiToken.objects.get(name="monitoring")
    assert token.read_only and token.domain == ""
    assert authenticate_token(shown.group(1)).id == token.id
    assert shown.group(1) not in (token.digest, token.prefix)
    page = admin_client.get(f"/admin/commands/apitoken/{token.id}/change/").content.decode()
    assert shown.group(1) not in page


def test_revoke_action(admin_client: Client) -> None:
    admin_client.post("/admin/commands/apitoken/add/", {"name": "x", "domain": "localhost"})
    token = ApiToken.objects.get(name="x")
    admin_client.post("/admin/commands/apitoken/", {"action": "revoke", "_selected_action": [token.id]})
    token.refresh_from_db()
    assert not token.is_active


def test_message_of_the_day_in_the_admin(admin_client: Client) -> None:
    r = admin_client.post("/admin/commands/messageoftheday/add/",
                          {"domain": "localhost", "subject": "", "body": "Be nice"})
    assert r.status_code == 302
    assert get_motd("localhost").body == "Be nice"


def test_cancel_a_run_in_the_admin(admin_client: Client) -> None:
    run = do_create_run("announce_all", {"body": "x"}, SERVER_ADMIN.as_dict(), "cli")
    admin_client.post("/admin/commands/commandrun/", {"action": "cancel", "_selected_action": [str(run.id)]})
    run.refresh_from_db()
    assert run.status == CommandRun.CANCELLED
    assert admin_client.get("/admin/commands/commandrun/").status_code == 200
