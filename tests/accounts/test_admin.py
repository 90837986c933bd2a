"""The Account admin: writes go through accounts.actions and the keys are never shown."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts import actions
from accounts.models import Account

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(settings) -> Client:
    settings.XMPP_DOMAINS = ["localhost", "example.org"]
    settings.ALLOWED_HOSTS = ["testserver"]
    user = User.objects.create_superuser("root", "root@example.org", "rootpw")
    client = Client()
    client.force_login(user)
    return client


def test_add_goes_through_do_create_account(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:accounts_account_add"), {
        "username": "Alice", "domain": "localhost", "password1": "pw", "password2": "pw",
        "is_active": "on"})
    assert response.status_code == 302, response.content
    account = Account.objects.get()
    assert account.jid == "alice@localhost"
    assert actions.check_account_password("alice", "localhost", "pw")


def test_add_rejects_duplicates_and_bad_names(admin_client: Client) -> None:
    actions.do_create_account("alice", "localhost", "pw")
    url = reverse("admin:accounts_account_add")
    for username in ("ALICE", "a b"):
        response = admin_client.post(url, {"username": username, "domain": "localhost",
                                           "password1": "pw", "password2": "pw"})
        assert response.status_code == 200
        assert b"errornote" in response.content or b"errorlist" in response.content
    assert Account.objects.count() == 1


def test_change_page_never_shows_keys(admin_client: Client) -> None:
    account = actions.do_create_account("alice", "localhost", "pw")
    response = admin_client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "stored_key" not in body and "server_key" not in body and "salt" not in body
    assert bytes(account.sha256_stored_key).hex() not in body
    listing = admin_client.get(reverse("admin:accounts_account_changelist"), {"q": "alice"})
    assert "alice@localhost" in listing.content.decode()


def test_set_password_page(admin_client: Client) -> None:
    account = actions.do_create_account("alice", "localhost", "old")
    url = reverse("admin:accounts_account_password", args=[account.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"password1": "a", "password2": "b"})
    assert response.status_code == 200 and b"differ" in response.content
    response = admin_client.post(url, {"password1": "new", "password2": "new"})
    assert response.status_code == 302
    assert actions.check_account_password("alice", "localhost", "new")


def test_disable_action_and_delete(admin_client: Client) -> None:
    account = actions.do_create_account("alice", "localhost", "pw")
    changelist = reverse("admin:accounts_account_changelist")
    admin_client.post(changelist, {"action": "disable_accounts", "_selected_action": [account.pk]})
    assert actions.get_credentials("alice", "localhost") == {}
    admin_client.post(reverse("admin:accounts_account_delete", args=[account.pk]), {"post": "yes"})
    assert not actions.account_exists("alice", "localhost")
