"""A user's roster for operators: get, add or change an item, remove an item (XEP-0133 §4.15
get-user-roster; ejabberd's get_roster/add_rosteritem/delete_rosteritem).

Writes reach the user's online resources as roster pushes (RFC 6121 §2.1.6). Hooks fired:
  roster/change (owner_bare, action, *args) -> rosters.actions.Change: a module that answers
    runs the action under its per-user lock, updates its memory copy and pushes
    (`rosters.store.RosterStore.change` has exactly this signature);
  otherwise the command writes through `rosters.actions` itself, fires
  cluster/roster-changed (owner_bare) so the rosters module re-reads its memory copy (and
  tells the other cluster nodes to), and pushes to the owner's interested resources.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable

from lxml import etree

from commands.builtin._common import XEP0133, account_jid, require_account
from commands.registry import Arg, Command, CommandError, Context
from rosters import actions
from rosters.items import MAX_GROUP_LENGTH, MAX_NAME_LENGTH, item_element, query_element
from rosters.store import is_interested
from xmppcore.jid import JID
from xmppcore.stanza import make
from xmppd.storage import db


def roster_get(ctx: Context, jid: JID) -> list[dict[str, Any]]:
    account_jid(jid)
    require_account(jid)
    items, _ = actions.load_roster(jid.local, jid.domain)
    return [{"jid": str(i.jid), "name": i.name, "subscription": i.subscription,
             "ask": "subscribe" if i.ask else "", "groups": list(i.groups)}
            for i in items if i.is_listed]


def _groups(text: str | None) -> tuple[str, ...]:
    """One group per line (XEP-0004 text-multi, or a JSON list joined by lines)."""
    groups = tuple(dict.fromkeys(g.strip() for g in re.split(r"[\r\n]+", text or "") if g.strip()))
    if any(len(g) > MAX_GROUP_LENGTH for g in groups):
        raise CommandError("bad-request", "a group name is too long", fields={"groups": "too long"})
    return groups


async def _push_fallback(ctx: Context, owner: JID, change: actions.Change) -> None:
    """The rosters module's in-memory copy re-read (its `cluster/roster-changed` hook), then
    the RFC 6121 §2.1.6 roster push to the owner's interested resources."""
    await ctx.server.hooks.fire_all("cluster/roster-changed", owner)
    cluster = getattr(ctx.server, "cluster", None)
    if cluster is not None:
        cluster.roster_changed(owner)  # other nodes holding this roster re-read it too
    if not change.outcome.is_visible_change:
        return
    before, after = change.outcome.before, change.outcome.after
    shown = item_element(after) if after is not None and after.is_listed else item_element(before, removed=True)
    for session in ctx.server.sessions.resources(owner):
        if is_interested(session):
            # §2.1.6: a push has no 'from' or the user's bare JID.
            iq = make("iq", type_="set", id_=f"push-{secrets.token_hex(6)}", to=session.jid, from_=owner)
            query = query_element((), str(change.version))
            query.append(shown)
            iq.append(query)
            session.send_bytes(etree.tostring(iq))


async def _change(ctx: Context, owner: JID, action: Callable[..., actions.Change], *args: Any) -> actions.Change:
    change = await ctx.server.hooks.fire("roster/change", owner, action, *args)
    if change is None:
        change = await db(action, owner.local, owner.domain, *args)
        await _push_fallback(ctx, owner, change)
    return change


async def roster_add(ctx: Context, jid: JID, contact: JID, name: str, groups: str | None) -> None:
    account_jid(jid)
    await db(require_account, jid)
    if contact.resource is not None or contact.bare == jid:
        raise CommandError("bad-request", "the contact must be another bare JID",
                           fields={"contact": "must be a bare JID other than the user's"})
    await _change(ctx, jid, actions.do_set_item, contact, name or "", _groups(groups))


async def roster_remove(ctx: Context, jid: JID, contact: JID) -> None:
    account_jid(jid)
    await db(require_account, jid)
    try:
        await _change(ctx, jid, actions.do_remove_item, contact.bare)
    except actions.ItemNotFound:
        raise CommandError("not-found", f"{contact} is not in the roster of {jid}") from None


USER = Arg("jid", "jid", label="The account (user@domain)")
CONTACT = Arg("contact", "jid", label="Contact")
COMMANDS = (
    Command("roster_get", "A user's roster.", (USER,), "table", "user", roster_get, category="rosters",
            read_only=True, xep0133_node=XEP0133 + "get-user-roster",
            columns=("jid", "name", "subscription", "ask", "groups")),
    Command("roster_add", "Add a contact to a user's roster, or change its name and groups (pushed to "
                          "the user's online resources; the subscription state is kept).",
            (USER, CONTACT, Arg("name", "string", label="Name", required=False, default="", max=MAX_NAME_LENGTH),
             Arg("groups", "text", label="Groups", required=False, help="One group per line.")),
            "none", "user", roster_add, category="rosters", live=True),
    Command("roster_remove", "Remove a contact from a user's roster (pushed to the user's online resources).",
            (USER, CONTACT), "none", "user", roster_remove, category="rosters", live=True),
)
