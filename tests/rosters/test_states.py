"""RFC 6121 Appendix A, row by row, on the pure state functions (no database, no network)."""

from __future__ import annotations

import pytest

from rosters import states
from rosters.items import Item
from xmppcore.jid import JID

CONTACT = JID.parse("contact@example.org")
# Appendix A.1 state names -> (subscription, pending out, pending in).
STATES = {
    "None": ("none", False, False), "None+PO": ("none", True, False), "None+PI": ("none", False, True),
    "None+PO+PI": ("none", True, True), "To": ("to", False, False), "To+PI": ("to", False, True),
    "From": ("from", False, False), "From+PO": ("from", True, False), "Both": ("both", False, False),
}


def item(name: str) -> Item:
    sub, ask, pending = STATES[name]
    return Item(CONTACT, subscription=sub, ask=ask, pending_in="<presence/>" if pending else "")


def name_of(value: Item | None) -> str:
    assert value is not None
    key = (value.subscription, value.ask, bool(value.pending_in))
    return next(name for name, state in STATES.items() if state == key)


# (state, forwarded?, new state) for each table; "=" means no state change.
OUTBOUND = {
    "subscribe": [  # A.2.1
        ("None", True, "None+PO"), ("None+PO", True, "="), ("None+PI", True, "None+PO+PI"),
        ("None+PO+PI", True, "="), ("To", True, "="), ("To+PI", True, "="),
        ("From", True, "From+PO"), ("From+PO", True, "="), ("Both", True, "="),
    ],
    "unsubscribe": [  # A.2.2
        ("None", True, "="), ("None+PO", True, "None"), ("None+PI", True, "="),
        ("None+PO+PI", True, "None+PI"), ("To", True, "None"), ("To+PI", True, "None+PI"),
        ("From", True, "="), ("From+PO", True, "From"), ("Both", True, "From"),
    ],
    "subscribed": [  # A.2.3 (the "no" rows without a request become pre-approvals, §3.4)
        ("None+PI", True, "From"), ("None+PO+PI", True, "From+PO"), ("To+PI", True, "Both"),
        ("From", False, "="), ("From+PO", False, "="), ("Both", False, "="),
    ],
    "unsubscribed": [  # A.2.4
        ("None", False, "="), ("None+PO", False, "="), ("None+PI", True, "None"),
        ("None+PO+PI", True, "None+PO"), ("To", False, "="), ("To+PI", True, "To"),
        ("From", True, "None"), ("From+PO", True, "None+PO"), ("Both", True, "To"),
    ],
}
INBOUND = {
    "subscribe": [  # A.3.1 (From, From+PO, Both: auto-reply instead of delivery)
        ("None", True, "None+PI"), ("None+PO", True, "None+PO+PI"), ("None+PI", False, "="),
        ("None+PO+PI", False, "="), ("To", True, "To+PI"), ("To+PI", False, "="),
        ("From", False, "="), ("From+PO", False, "="), ("Both", False, "="),
    ],
    "unsubscribe": [  # A.3.2
        ("None", False, "="), ("None+PO", False, "="), ("None+PI", True, "None"),
        ("None+PO+PI", True, "None+PO"), ("To", False, "="), ("To+PI", True, "To"),
        ("From", True, "None"), ("From+PO", True, "None+PO"), ("Both", True, "To"),
    ],
    "subscribed": [  # A.3.3
        ("None", False, "="), ("None+PO", True, "To"), ("None+PI", False, "="),
        ("None+PO+PI", True, "To+PI"), ("To", False, "="), ("To+PI", False, "="),
        ("From", False, "="), ("From+PO", True, "Both"), ("Both", False, "="),
    ],
    "unsubscribed": [  # A.3.4
        ("None", False, "="), ("None+PO", True, "None"), ("None+PI", False, "="),
        ("None+PO+PI", True, "None+PI"), ("To", True, "None"), ("To+PI", True, "None+PI"),
        ("From", False, "="), ("From+PO", True, "From"), ("Both", True, "From"),
    ],
}


def _cases(table: dict[str, list[tuple[str, bool, str]]]) -> list[tuple[str, str, bool, str]]:
    return [(kind, state, forward, new) for kind, rows in table.items() for state, forward, new in rows]


@pytest.mark.parametrize(("kind", "state", "forward", "new"), _cases(OUTBOUND))
def test_outbound_table(kind: str, state: str, forward: bool, new: str) -> None:
    outcome = states.outbound(item(state), CONTACT, kind)
    assert outcome.forward is forward
    assert name_of(outcome.after) == (state if new == "=" else new)
    # A push is due when 'subscription' or 'ask' changed; 'pending in' is not shown (§2.1.2).
    assert outcome.is_visible_change is (STATES[state][:2] != STATES[name_of(outcome.after)][:2])


@pytest.mark.parametrize(("kind", "state", "forward", "new"), _cases(INBOUND))
def test_inbound_table(kind: str, state: str, forward: bool, new: str) -> None:
    outcome = states.inbound(item(state), CONTACT, kind, "<presence type='subscribe'/>")
    assert outcome.forward is forward
    assert name_of(outcome.after) == (state if new == "=" else new)
    assert outcome.auto_reply is (kind == "subscribe" and state in ("From", "From+PO", "Both"))
    assert outcome.is_visible_change is (STATES[state][:2] != STATES[name_of(outcome.after)][:2])


@pytest.mark.parametrize("state", ["None", "None+PO", "To"])
def test_subscribed_without_request_is_a_pre_approval(state: str) -> None:
    outcome = states.outbound(item(state), CONTACT, "subscribed")
    assert not outcome.forward and outcome.after.approved and outcome.is_visible_change
    assert name_of(outcome.after) == state
    # §3.4.2: the request then arrives and is granted at once, without delivery.
    granted = states.inbound(outcome.after, CONTACT, "subscribe", "<presence/>")
    assert granted.auto_reply and not granted.forward and granted.gained_from
    assert not granted.after.approved and not granted.after.pending_in
    # §3.4: or the pre-approval is withdrawn.
    withdrawn = states.outbound(outcome.after, CONTACT, "unsubscribed")
    assert not withdrawn.forward and not withdrawn.after.approved


def test_contact_not_in_the_roster() -> None:
    request = states.inbound(None, CONTACT, "subscribe", "<presence type='subscribe'/>")
    # §3.1.3: kept, not shown: no roster push for a request alone.
    assert request.forward and not request.after.is_listed and not request.is_visible_change
    assert request.after.pending_in == "<presence type='subscribe'/>"
    # Approving it puts the contact in the roster with 'from' (§3.1.5).
    approved = states.outbound(request.after, CONTACT, "subscribed")
    assert approved.forward and approved.after.is_listed and approved.after.subscription == "from"
    # Denying it leaves nothing behind.
    denied = states.outbound(request.after, CONTACT, "unsubscribed")
    assert denied.forward and denied.after is None and not denied.is_visible_change
    # Withdrawn by the requester: nothing either.
    assert states.inbound(request.after, CONTACT, "unsubscribe").after is None
    # A subscribe of our own adds the contact (§3.1.2) and keeps the request.
    asked = states.outbound(request.after, CONTACT, "subscribe")
    assert asked.after.is_listed and asked.after.ask and asked.after.pending_in


def test_nothing_for_unknown_contacts() -> None:
    assert states.outbound(None, CONTACT, "unsubscribed").after is None
    assert states.inbound(None, CONTACT, "unsubscribed").after is None
    assert states.inbound(None, CONTACT, "subscribed").forward is False
    assert states.outbound(None, CONTACT, "unsubscribe").forward is True  # §A.2.2: routed anyway
    with pytest.raises(ValueError):
        states.outbound(None, CONTACT, "probe")
