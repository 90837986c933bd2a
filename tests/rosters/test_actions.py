"""rosters.actions: the only writers of roster rows; versions move with what users can see."""

from __future__ import annotations

import pytest

from rosters import actions
from rosters.models import RosterItem, RosterVersion
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db

ROMEO = JID.parse("romeo@example.net")


def test_set_item_creates_then_updates_and_always_bumps_the_version() -> None:
    first = actions.do_set_item("juliet", "example.com", "Romeo@Example.NET", "Romeo", ["Friends"])
    assert first.version == 1 and first.outcome.before is None
    row = RosterItem.objects.get()
    assert (row.owner, row.jid, row.name, row.groups, row.subscription) == (
        "juliet@example.com", "romeo@example.net", "Romeo", ["Friends"], "none")
    second = actions.do_set_item("juliet", "example.com", ROMEO, "Romeo", ["Friends"])
    assert second.version == 2  # §2.3.2: a set is always pushed, so it gets a version
    items, version = actions.load_roster("juliet", "example.com")
    assert version == 2 and [(i.jid, i.name, i.groups) for i in items] == [(ROMEO, "Romeo", ("Friends",))]


def test_set_item_keeps_the_subscription_state() -> None:
    actions.do_outbound("juliet", "example.com", ROMEO, "subscribe")
    change = actions.do_set_item("juliet", "example.com", ROMEO, "R", [])
    assert change.item.ask and change.item.name == "R"


def test_remove_item() -> None:
    with pytest.raises(actions.ItemNotFound):
        actions.do_remove_item("juliet", "example.com", ROMEO)
    # A contact that only asked is not in the roster either (§2.5.3).
    actions.do_inbound("juliet", "example.com", ROMEO, "subscribe", "<presence type='subscribe'/>")
    with pytest.raises(actions.ItemNotFound):
        actions.do_remove_item("juliet", "example.com", ROMEO)
    actions.do_set_item("juliet", "example.com", ROMEO)
    change = actions.do_remove_item("juliet", "example.com", ROMEO)
    assert change.item is None and change.outcome.before.pending_in
    assert not RosterItem.objects.exists()


def test_transitions_persist_and_version_only_visible_changes() -> None:
    change = actions.do_inbound("juliet", "example.com", ROMEO, "subscribe", "<presence type='subscribe'/>")
    assert change.outcome.forward and change.version == 0  # nothing the user sees yet
    row = RosterItem.objects.get()
    assert not row.is_listed and row.pending_in == "<presence type='subscribe'/>"
    assert actions.get_subscription("juliet", "example.com", ROMEO) == "none"
    change = actions.do_outbound("juliet", "example.com", ROMEO, "subscribed")
    assert change.outcome.gained_from and change.version == 1
    row.refresh_from_db()
    assert row.is_listed and row.subscription == "from" and row.pending_in == ""
    assert actions.get_subscription("juliet", "example.com", ROMEO) == "from"
    unchanged = actions.do_outbound("juliet", "example.com", ROMEO, "subscribed")
    assert not unchanged.outcome.forward and unchanged.version == 1
    actions.do_outbound("juliet", "example.com", ROMEO, "unsubscribed")
    assert actions.get_subscription("juliet", "example.com", ROMEO) == "none"
    assert actions.get_version("juliet", "example.com") == 2


def test_denied_request_leaves_no_row() -> None:
    actions.do_inbound("juliet", "example.com", ROMEO, "subscribe", "<presence type='subscribe'/>")
    change = actions.do_outbound("juliet", "example.com", ROMEO, "unsubscribed")
    assert change.outcome.forward and change.item is None
    assert not RosterItem.objects.exists()


def test_account_deletion_drops_the_roster() -> None:
    from accounts.actions import do_create_account, do_delete_account

    do_create_account("juliet", "example.com", "pw")
    actions.do_set_item("juliet", "example.com", ROMEO)
    actions.do_set_item("nurse", "example.com", ROMEO)
    do_delete_account("juliet", "example.com")
    assert list(RosterItem.objects.values_list("username", flat=True)) == ["nurse"]
    assert not RosterVersion.objects.filter(username="juliet").exists()


def test_str() -> None:
    actions.do_outbound("juliet", "example.com", ROMEO, "subscribe")
    assert str(RosterItem.objects.get()) == "juliet@example.com → romeo@example.net (none, ask)"
    assert str(RosterVersion.objects.get()) == "juliet@example.com v1"
