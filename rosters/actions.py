"""Rosters: the only functions that write `RosterItem` and `RosterVersion` rows.

Synchronous ORM code: async callers wrap them in `xmppd.storage.db`. Every write returns
a `Change` — the state before and after (`rosters.states.Outcome`) and the roster
version after it — from which the running server updates its in-memory copy and sends
roster pushes (RFC 6121 §2.1.6).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F

from rosters import states
from rosters.items import Item
from xmppd.storage import select
from rosters.models import RosterItem, RosterVersion
from xmppcore.jid import JID

log = logging.getLogger(__name__)


class ItemNotFound(Exception):
    """The contact is not in the user's roster (RFC 6121 §2.5.3)."""


class PendingFull(Exception):
    """The account already holds its maximum of unanswered inbound subscription requests
    (XMPP_MAX_PENDING_SUBSCRIPTIONS): one stranger, or many, cannot store rows without end."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} subscription requests may await an answer")
        self.limit = limit


class RosterFull(Exception):
    """The roster already holds its maximum number of items (XMPP_MAX_ROSTER_ITEMS)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a roster holds at most {limit} items")
        self.limit = limit


@dataclass(frozen=True)
class Change:
    outcome: states.Outcome
    version: int

    @property
    def item(self) -> Item | None:
        return self.outcome.after


# -- reading ------------------------------------------------------------------------

def _to_item(row: RosterItem) -> Item:
    return Item(jid=JID.parse(row.jid), name=row.name, subscription=row.subscription, ask=row.ask,
                pending_in=row.pending_in, approved=row.approved, groups=tuple(row.groups or ()),
                is_listed=row.is_listed)


def _rows(username: str, domain: str) -> Any:
    return RosterItem.objects.filter(username=username, domain=domain)


def load_roster(username: str, domain: str) -> tuple[list[Item], int]:
    """The whole roster (unlisted pending requests included) and its version, in two raw
    SELECTs: this runs at every login, where ORM query compilation would dominate."""
    rows = select(f"SELECT jid, name, subscription, ask, pending_in, approved, groups, is_listed "
                  f"FROM {RosterItem._meta.db_table} WHERE username = %s AND domain = %s ORDER BY id",
                  (username, domain))
    items = [Item(jid=JID.parse(jid), name=name, subscription=sub, ask=bool(ask), pending_in=pending,
                  approved=bool(approved), groups=tuple(_json_list(groups)), is_listed=bool(listed))
             for jid, name, sub, ask, pending, approved, groups, listed in rows]
    version = select(f"SELECT version FROM {RosterVersion._meta.db_table} "
                     "WHERE username = %s AND domain = %s", (username, domain))
    return items, version[0][0] if version else 0


def _json_list(value: Any) -> list[str]:
    """A JSONField read raw: text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or ())


def get_version(username: str, domain: str) -> int:
    row = RosterVersion.objects.filter(username=username, domain=domain).values_list("version", flat=True)
    return next(iter(row), 0)


def get_item(username: str, domain: str, contact: JID | str) -> Item | None:
    row = _rows(username, domain).filter(jid=str(contact)).first()
    return None if row is None else _to_item(row)


def get_subscription(username: str, domain: str, contact: JID | str) -> str:
    """'none', 'to', 'from' or 'both' for `contact` in the roster of `username@domain`."""
    item = get_item(username, domain, contact)
    return item.subscription if item is not None and item.is_listed else "none"


# -- writing ------------------------------------------------------------------------

def _bump(username: str, domain: str) -> int:
    """§2.6: a new roster version (a counter per user)."""
    RosterVersion.objects.get_or_create(username=username, domain=domain)
    RosterVersion.objects.filter(username=username, domain=domain).update(version=F("version") + 1)
    return get_version(username, domain)


def _store(username: str, domain: str, row: RosterItem | None, item: Item | None) -> None:
    if item is None:
        if row is not None:
            row.delete()
        return
    row = row or RosterItem(username=username, domain=domain, jid=str(item.jid))
    row.name, row.subscription, row.ask = item.name, item.subscription, item.ask
    row.pending_in, row.approved, row.is_listed = item.pending_in, item.approved, item.is_listed
    row.groups = list(item.groups)
    row.save()


def _transition(username: str, domain: str, contact: JID,
                rule: Callable[[Item | None], states.Outcome]) -> Change:
    """Read the item, apply `rule`, write the result, bump the version if the user sees it."""
    with transaction.atomic():
        row = _rows(username, domain).select_for_update().filter(jid=str(contact)).first()
        outcome = rule(None if row is None else _to_item(row))
        if outcome.after != outcome.before:
            _store(username, domain, row, outcome.after)
        version = _bump(username, domain) if outcome.is_visible_change else get_version(username, domain)
    return Change(outcome, version)


def _check_room(username: str, domain: str, max_items: int | None) -> None:
    """Raise RosterFull when a new item would pass the cap (None: XMPP_MAX_ROSTER_ITEMS, 0: none)."""
    limit = settings.XMPP_MAX_ROSTER_ITEMS if max_items is None else max_items
    if limit and _rows(username, domain).count() >= limit:
        raise RosterFull(limit)


def do_set_item(username: str, domain: str, contact: JID | str, name: str = "",
                groups: Iterable[str] = (), max_items: int | None = None) -> Change:
    """§2.3 / §2.4: add the contact or change its name and groups; its state is kept.

    A roster set always yields a push (§2.3.2), so the version moves even when nothing did.
    A new contact beyond `max_items` raises RosterFull (changing an existing one never does).
    """
    jid = JID.parse(str(contact)).bare
    groups = tuple(groups)

    def rule(before: Item | None) -> states.Outcome:
        if before is None:
            _check_room(username, domain, max_items)
        base = before or Item(jid)
        after = Item(jid, name=name, subscription=base.subscription, ask=base.ask,
                     pending_in=base.pending_in, approved=base.approved, groups=groups, is_listed=True)
        return states.Outcome(before, after, forward=False)

    with transaction.atomic():
        change = _transition(username, domain, jid, rule)
        if not change.outcome.is_visible_change:
            change = Change(change.outcome, _bump(username, domain))
    log.debug("roster of %s@%s: set %s", username, domain, jid)
    return change


def do_remove_item(username: str, domain: str, contact: JID | str) -> Change:
    """§2.5: delete the item; raises ItemNotFound when the user does not have it."""
    jid = JID.parse(str(contact)).bare

    def rule(before: Item | None) -> states.Outcome:
        if before is None or not before.is_listed:
            raise ItemNotFound(str(jid))
        return states.Outcome(before, None, forward=False)

    change = _transition(username, domain, jid, rule)
    log.debug("roster of %s@%s: removed %s", username, domain, jid)
    return change


def do_outbound(username: str, domain: str, contact: JID, kind: str) -> Change:
    """Appendix A.2: the user sent a subscription stanza of type `kind` to `contact`."""
    return _transition(username, domain, contact.bare,
                       lambda before: states.outbound(before, contact.bare, kind))


def do_inbound(username: str, domain: str, contact: JID, kind: str, request_xml: str = "",
               max_items: int | None = None) -> Change:
    """Appendix A.3: a subscription stanza of type `kind` arrived from `contact`.

    A request that would store a new pending row is refused (issue 8) with PendingFull past
    XMPP_MAX_PENDING_SUBSCRIPTIONS, and with RosterFull when the row would pass the roster
    cap (`max_items`, as do_set_item: unlisted requests count as items, as in Prosody)."""

    def rule(before: Item | None) -> states.Outcome:
        outcome = states.inbound(before, contact.bare, kind, request_xml)
        after = outcome.after
        if after is not None and after.pending_in and not (before is not None and before.pending_in):
            _check_pending(username, domain)
            if before is None:
                _check_room(username, domain, max_items)
        return outcome

    return _transition(username, domain, contact.bare, rule)


def _check_pending(username: str, domain: str) -> None:
    """Raise PendingFull when one more unanswered inbound request would pass the cap (0: none)."""
    limit = int(getattr(settings, "XMPP_MAX_PENDING_SUBSCRIPTIONS", 1000))
    if limit and _rows(username, domain).exclude(pending_in="").count() >= limit:
        raise PendingFull(limit)


def do_delete_roster(username: str, domain: str) -> int:
    """Forget the whole roster of `username@domain` (the account is gone); returns the item count."""
    with transaction.atomic():
        count, _ = _rows(username, domain).delete()
        RosterVersion.objects.filter(username=username, domain=domain).delete()
    return count


def do_forget_contact(username: str, domain: str) -> list[tuple[str, str]]:
    """Remove `username@domain` (the account is gone) from every other roster, with its
    subscriptions both ways, so whoever registers the name later inherits nobody's presence
    (RFC 6121 §2.5.2 has the server do this when a user removes a contact). Returns the owners."""
    rows = RosterItem.objects.filter(jid=f"{username}@{domain}")
    with transaction.atomic():
        owners = sorted(set(rows.values_list("username", "domain")))
        rows.delete()
        for owner in owners:
            _bump(*owner)
    return owners


def on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of accounts.Account: runs inside the deleting transaction."""
    do_delete_roster(instance.username, instance.domain)
    do_forget_contact(instance.username, instance.domain)
