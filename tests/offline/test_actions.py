"""offline.actions: storing within the quota, reading in order, deleting what was delivered."""

from __future__ import annotations

import pytest

from offline import actions
from offline.models import OfflineMessage

pytestmark = pytest.mark.django_db


def store(n: int, username: str = "bob", quota: int = 100) -> list[bool]:
    return [actions.do_store_message(username, "localhost", "alice@localhost/a", f"<m{i}/>", quota)
            for i in range(n)]


def test_store_until_the_quota() -> None:
    assert store(4, quota=3) == [True, True, True, False]
    assert actions.count_messages("bob", "localhost") == 3
    assert actions.count_messages("carol", "localhost") == 0


def test_the_quota_is_per_user() -> None:
    assert store(2, "bob", quota=2) == [True, True]
    assert store(2, "carol", quota=2) == [True, True]
    assert actions.do_store_message("bob", "example.org", "x@y/z", "<m/>", 2)  # another domain


def test_messages_come_back_oldest_first_in_pages() -> None:
    store(5)
    first = actions.get_messages("bob", "localhost", limit=2)
    assert [xml for _, xml in first] == ["<m0/>", "<m1/>"]
    rest = actions.get_messages("bob", "localhost", after_id=first[-1][0], limit=10)
    assert [xml for _, xml in rest] == ["<m2/>", "<m3/>", "<m4/>"]


def test_delete_only_the_given_messages_of_that_user() -> None:
    store(3, "bob")
    store(1, "carol")
    ids = [row_id for row_id, _ in actions.get_messages("bob", "localhost")]
    carol_id = actions.get_messages("carol", "localhost")[0][0]
    assert actions.do_delete_messages("bob", "localhost", ids[:2] + [carol_id]) == 2
    assert [xml for _, xml in actions.get_messages("bob", "localhost")] == ["<m2/>"]
    assert actions.count_messages("carol", "localhost") == 1


def test_deleting_the_account_deletes_its_messages() -> None:
    from accounts.actions import do_create_account, do_delete_account

    do_create_account("bob", "localhost", "secret")
    store(2, "bob")
    store(1, "carol")
    do_delete_account("bob", "localhost")
    assert actions.count_messages("bob", "localhost") == 0
    assert OfflineMessage.objects.count() == 1
