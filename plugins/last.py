"""XEP-0012: Last Activity.

To the server's domain (§5): the seconds since the server started. To a user's bare
JID (§3), answered by the server on the user's behalf: 0 when the user has a
connected or available resource, else the seconds since the last logout and the status text of
the last unavailable presence (recorded by the accounts app at logout). Only the
user and the contacts who may see the user's presence (a subscription of type 'from'
or 'both' in the user's roster) may ask (§3, §8); the others get <forbidden/>, also
when they ask a full JID (§4) — the server then does not pass the request on.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from django.apps import apps
from django.utils import timezone
from lxml import etree

from xmppcore import ns, xso
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result
from xmppd.priorities import INTERCEPT
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

# §3 / §8: subscription states that let the requester see the user's presence.
PRESENCE_VISIBLE = frozenset({"from", "both"})


class LastQuery(xso.Payload, namespace=ns.LAST, name="query"):
    """§2: 'seconds' since the last activity; the character data is the last status."""

    seconds: int = xso.attr(type=int)
    status: str | None = xso.text(default=None)


def last_query(seconds: int, status: str | None = None) -> etree._Element:
    return LastQuery(seconds=max(0, seconds), status=status or None).to_element()


def get_last_logout(username: str, domain: str) -> tuple[datetime | None, str] | None:
    """(last logout or None if never, last status) of the account, or None if there is none.

    Reads the accounts app's model through the app registry: plugins do not import the
    apps (DESIGN.md layers); only `accounts.actions` writes these fields.
    """
    account = apps.get_model("accounts", "Account")
    row = (account.objects.filter(username=username, domain=domain)
           .values_list("last_logout_at", "last_status").first())
    return None if row is None else (row[0], row[1])


class LastActivity:
    def __init__(self, server: "Server") -> None:
        self.server = server

    def uptime(self, stanza: Stanza) -> etree._Element:
        """§5: how long the server has been running; no character data."""
        return iq_result(stanza, last_query(int(time.time() - self.server.started_at)))

    async def account(self, stanza: Stanza) -> etree._Element:
        """§3: the user's last logout, as seen by someone allowed to see their presence."""
        owner = stanza.to
        # Permission first (§8): a missing account and one the requester may not see get
        # the same <forbidden/>, so the query does not tell which accounts exist.
        await self._check_allowed(stanza.from_, owner)
        connected = bool(self.server.sessions.resources(owner))
        found = None
        if not connected:
            # Logouts are written in batches (accounts module): flush before reading.
            await self.server.hooks.fire_all("account/flush-logouts")
            found = await db(get_last_logout, owner.local, owner.domain)
            if found is None:  # RFC 6121 §8.5.2.2.3: an IQ to a user who does not exist
                raise StanzaError("service-unavailable")
        if found is None:
            # §3: a connected or available resource → an empty <query/> with seconds='0'.
            return iq_result(stanza, last_query(0))
        logout_at, status = found
        if logout_at is None:  # never logged out: there is no last activity to tell
            raise StanzaError("item-not-found", "no logout recorded for this account")
        seconds = int((timezone.now() - logout_at).total_seconds())
        return iq_result(stanza, last_query(seconds, status))

    async def to_full(self, stanza: Stanza) -> bool | None:
        """§4: a query to a full JID reaches the resource only if the requester may ask."""
        payload = stanza.payload
        if stanza.type != "get" or payload is None or payload.tag != ns.q(ns.LAST, "query"):
            return None
        await self._check_allowed(stanza.from_, stanza.to.bare)
        return None  # allowed: the core iq/full handler delivers it

    async def _check_allowed(self, requester: JID | None, owner: JID) -> None:
        if requester is not None and requester.bare == owner:
            return
        if requester is not None:
            state = await self.server.hooks.fire("roster/subscription", owner, requester.bare)
            if state in PRESENCE_VISIBLE:
                return
        raise StanzaError("forbidden")


def load(server: "Server") -> "Module":
    module = server.module(
        "last", xep="XEP-0012", title="Last Activity", version="2.0", status="complete",
        notes="server uptime; accounts' last logout and status, to subscribed contacts only")
    last = LastActivity(server)
    module.iq("get", ns.LAST, "query", last.uptime, scope="host")
    module.iq("get", ns.LAST, "query", last.account, scope="bare")
    module.hook("iq/full", last.to_full, INTERCEPT)
    module.add_feature(ns.LAST)
    return module
