"""XEP-0077: In-Band Registration, and the account hooks the c2s driver calls.

Hooks registered (all async; ORM work runs in `xmppd.storage.db`'s thread):
  auth/credentials (username, domain) -> dict[str, ScramCredentials], {} when none
  auth/check-password (username, domain, password) -> bool
  account/exists (username, domain) -> bool
  session/closed (session, unavailable presence element or None): XEP-0012 last logout
  presence/broadcast (observer, priority 1000): notes the unavailable status for the above
  preauth-iq-{get,set}/jabber:iq:register:query (stanza) -> reply element
  iq-{get,set}/{self,host}/jabber:iq:register:query: registered state, password change,
  cancellation (XEP-0077 §3.1-§3.3)
and the `<register xmlns='http://jabber.org/features/iq-register'/>` stream feature (§8).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from lxml import etree

from accounts import actions
from accounts.signals import keeping
from xmppcore import ns
from xmppcore.errors import StanzaError, error_reply
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result
from xmppd.modules import Module
from xmppd.priorities import OBSERVE
from xmppd.storage import db, derive

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from xmppcore.sasl import ScramCredentials
    from xmppd.server import Server

PREAUTH_NAMESPACES = frozenset({ns.REGISTER})
_STATUS_KEY = "accounts.last_status"  # in Session.data
FORM_TYPE = ns.REGISTER
CHANGE_PASSWORD_FORM_TYPE = f"{ns.REGISTER}:changepassword"
INSTRUCTIONS = "Choose a username and password for use with this server."
REGISTERED_INSTRUCTIONS = ("You are registered. Send a new password to change it, "
                           "or <remove/> to cancel your registration.")


def _q(name: str) -> str:
    return ns.q(ns.REGISTER, name)


def _x(name: str) -> str:
    return ns.q(ns.DATA_FORMS, name)


# -- payloads -----------------------------------------------------------------------

def _query() -> etree._Element:
    return etree.Element(_q("query"), nsmap={None: ns.REGISTER})


def _registration_form() -> etree._Element:
    """XEP-0077 §6 / XEP-0004 §3.1: the same fields as a data form, FORM_TYPE per XEP-0068."""
    x = etree.Element(_x("x"), nsmap={None: ns.DATA_FORMS}, type="form")
    etree.SubElement(x, _x("title")).text = "Account Registration"
    etree.SubElement(x, _x("instructions")).text = INSTRUCTIONS
    hidden = etree.SubElement(x, _x("field"), type="hidden", var="FORM_TYPE")
    etree.SubElement(hidden, _x("value")).text = FORM_TYPE
    for var, type_, label in (("username", "text-single", "Username"),
                              ("password", "text-private", "Password")):
        field = etree.SubElement(x, _x("field"), type=type_, var=var, label=label)
        etree.SubElement(field, _x("required"))
    return x


def registration_fields() -> etree._Element:
    """XEP-0077 §3.1 example 2 plus the §6 data form: what an unregistered entity must send."""
    query = _query()
    etree.SubElement(query, _q("instructions")).text = INSTRUCTIONS
    etree.SubElement(query, _q("username"))
    etree.SubElement(query, _q("password"))
    query.append(_registration_form())
    return query


def registered_state(username: str) -> etree._Element:
    """XEP-0077 §3.1 example 3: <registered/> and the data on file (never the password)."""
    query = _query()
    etree.SubElement(query, _q("registered"))
    etree.SubElement(query, _q("instructions")).text = REGISTERED_INSTRUCTIONS
    etree.SubElement(query, _q("username")).text = username
    etree.SubElement(query, _q("password"))
    return query


def _form_values(x: etree._Element) -> dict[str, str]:
    """XEP-0004 §3.3: a submitted form's first value of each field, by var."""
    if x.get("type", "submit") != "submit":
        raise StanzaError("bad-request", "a data form must be submitted with type='submit'")
    values: dict[str, str] = {}
    for field in x.iterchildren(_x("field")):
        var = field.get("var")
        if var:
            values[var] = field.findtext(_x("value")) or ""
    return values


def read_fields(query: etree._Element, form_types: frozenset[str]) -> tuple[str | None, str | None]:
    """(username, password) from the data form if there is one (§6 rule 5), else the plain fields.

    A field that is absent gives None; an empty element gives "".
    """
    x = query.find(_x("x"))
    if x is not None:
        values = _form_values(x)
        if values.get("FORM_TYPE", FORM_TYPE) not in form_types:
            raise StanzaError("bad-request", "unexpected FORM_TYPE")
        return values.get("username"), values.get("password")
    username = query.find(_q("username"))
    password = query.find(_q("password"))
    return (None if username is None else (username.text or "").strip(),
            None if password is None else (password.text or ""))


def _status_text(presence: Any) -> str | None:
    """The <status/> of an unavailable presence (XEP-0012 §4), if it has one."""
    el = getattr(presence, "el", presence)
    if el is None:
        return None
    return el.findtext(ns.q(ns.CLIENT, "status"))


def _is_secure(origin: Any) -> bool:
    """Whether the pre-auth connection is encrypted (the driver's, or its stream machine's, flag)."""
    secure = getattr(origin, "is_secure", None)
    if secure is None:
        secure = getattr(getattr(origin, "machine", None), "is_secure", False)
    return bool(secure)


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


# -- the module ---------------------------------------------------------------------

class Accounts:
    """The handlers, bound to one server (for its configuration and session table)."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        # §3.1.1: a server MAY refuse a second registration on the same connection.
        self._registered_on: weakref.WeakSet[Any] = weakref.WeakSet()
        # Logouts waiting to be written: one transaction per burst, not one commit per
        # disconnect (a commit is the most expensive thing a login/logout cycle does).
        self._logouts: dict[tuple[str, str], tuple[datetime, str | None]] = {}
        self._writer: asyncio.Task | None = None

    # auth hooks ---------------------------------------------------------------------
    async def credentials(self, username: str, domain: str) -> dict[str, "ScramCredentials"]:
        return await db(actions.get_credentials, username, domain)

    async def check_password(self, username: str, domain: str, password: str) -> bool:
        creds = (await db(actions.get_credentials, username, domain)).get("SHA-256")
        return await derive(actions.password_matches, creds, password)

    async def exists(self, username: str, domain: str) -> bool:
        return await db(actions.account_exists, username, domain)

    async def session_closed(self, session: Any, presence: Any = None) -> None:
        """XEP-0012 §4: record the logout time and the last unavailable presence's status."""
        bare = session.bare
        if presence is not None:
            status = _status_text(presence)
        else:  # the driver did not keep it: use what `observe_presence` saw, if anything
            status = getattr(session, "data", {}).get(_STATUS_KEY)
        self._logouts[(bare.local, bare.domain)] = (timezone.now(), status)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_logouts())
        return None  # a notification: let every other handler run

    async def _write_logouts(self) -> None:
        # While one batch is being written the next one accumulates.
        while self._logouts:
            batch, self._logouts = self._logouts, {}
            rows = [(user, domain, when, status) for (user, domain), (when, status) in batch.items()]
            try:
                await db(actions.do_record_logouts, rows)
            except Exception:
                log.exception("could not record %d logouts", len(rows))

    async def flush(self, _server: Any = None) -> None:
        """Write pending logouts now (server shutdown; XEP-0012 readers)."""
        if self._writer is not None and not self._writer.done():
            await self._writer
        if self._logouts:
            await self._write_logouts()

    def observe_presence(self, stanza: Stanza) -> None:
        """Remember the status of the client's broadcast unavailable presence (XEP-0012 §4).

        An observer: it returns None so the presence module still handles the stanza.
        """
        data = getattr(stanza.origin, "data", None)
        if data is None:
            return None
        if stanza.type == "unavailable":
            data[_STATUS_KEY] = _status_text(stanza.el) or ""
        elif stanza.type is None:
            data.pop(_STATUS_KEY, None)
        return None

    def stream_feature(self, state: Any) -> etree._Element | None:
        """XEP-0077 §8: advertise registration to unauthenticated clients only, when allowed."""
        if getattr(state, "is_authenticated", False) or not self.server.config.allow_registration:
            return None
        return etree.Element(ns.q(ns.REGISTER_FEATURE, "register"), nsmap={None: ns.REGISTER_FEATURE})

    # before authentication: XEP-0077 §3.1 -------------------------------------------
    async def preauth_get(self, stanza: Stanza) -> etree._Element:
        try:
            self._check_preauth(stanza)
            return iq_result(stanza, registration_fields())
        except StanzaError as err:
            return error_reply(stanza.el, err)

    async def preauth_set(self, stanza: Stanza) -> etree._Element:
        try:
            self._check_preauth(stanza)
            await self._register(stanza)
            return iq_result(stanza)
        except StanzaError as err:
            return error_reply(stanza.el, err)

    def _check_preauth(self, stanza: Stanza) -> None:
        # §3.1: a host without in-band registration MUST answer service-unavailable.
        if not self.server.config.allow_registration:
            raise StanzaError("service-unavailable", "in-band registration is disabled")
        # §3.3 and §11 (security): the password travels in the clear inside the stream.
        if self.server.config.require_tls and not _is_secure(stanza.origin):
            raise StanzaError("policy-violation", "encryption is required", type_="modify")
        domain = stanza.origin.domain
        if stanza.to is not None and stanza.to != JID(None, domain, None):
            raise StanzaError("service-unavailable", "register with this server before logging in")

    async def _register(self, stanza: Stanza) -> None:
        query = stanza.payload
        if query.find(_q("remove")) is not None:
            # §3.2 error table: an unauthenticated entity has no registration to cancel.
            raise StanzaError("unexpected-request", "log in to cancel a registration")
        if stanza.origin in self._registered_on:
            raise StanzaError("not-acceptable", "one registration per connection")
        username, password = read_fields(query, frozenset({FORM_TYPE}))
        # §3.1: missing or empty information (an empty <password/> too) is not-acceptable.
        if not username or not password:
            raise StanzaError("not-acceptable", "a username and a password are required")
        try:
            await db(actions.do_register_account, username, stanza.origin.domain, password)
        except actions.InvalidAccountJID as exc:
            raise StanzaError("jid-malformed", str(exc)) from None
        except actions.AccountExists:
            # §3.1: <conflict/> "the desired username is already in use": so is a reserved one.
            raise StanzaError("conflict", "that username is taken") from None
        except actions.InvalidPassword as exc:
            raise StanzaError("not-acceptable", str(exc)) from None
        self._remember_registration(stanza.origin)

    def _remember_registration(self, origin: Any) -> None:
        try:
            self._registered_on.add(origin)
        except TypeError:  # an origin that cannot be weakly referenced is simply not tracked
            pass

    # after authentication: XEP-0077 §3.1 (registered), §3.2 (cancel), §3.3 (password) --
    async def registered_get(self, stanza: Stanza) -> etree._Element:
        self._check_own_server(stanza)
        return iq_result(stanza, registered_state(stanza.from_.local))

    async def registered_set(self, stanza: Stanza) -> etree._Element | bool:
        self._check_own_server(stanza)
        query = stanza.payload
        if query.find(_q("remove")) is not None:
            # §3.2: <remove/> must be the only child of <query/>.
            if len(query) != 1:
                raise StanzaError("bad-request", "<remove/> must be the only child")
            return await self._cancel(stanza)
        await self._change_password(stanza)
        return iq_result(stanza)

    @staticmethod
    def _check_own_server(stanza: Stanza) -> None:
        sender = stanza.from_
        if sender is None or sender.local is None:
            raise StanzaError("service-unavailable")
        if stanza.to is not None and stanza.to.domain != sender.domain:
            # An account is registered with one domain, before authenticating (§3.1.1).
            raise StanzaError("service-unavailable", "you are registered with another domain")

    async def _change_password(self, stanza: Stanza) -> None:
        sender = stanza.from_
        username, password = read_fields(stanza.payload,
                                          frozenset({FORM_TYPE, CHANGE_PASSWORD_FORM_TYPE}))
        # §3.3: an empty password MUST NOT replace the existing one; the username is required.
        if not username or not password:
            raise StanzaError("bad-request", "send <username/> and a non-empty <password/>")
        try:
            named = actions.parse_account_jid(username, sender.domain)
        except actions.InvalidAccountJID:
            named = None
        if named != sender.bare:
            raise StanzaError("bad-request", "you can only change your own password")
        # The account's other sessions end (accounts.signals.credentials_revoked); the one
        # that changed the password knows the new one and stays.
        with keeping(stanza.origin):
            try:
                await db(actions.do_set_password, sender.local, sender.domain, password)
            except actions.InvalidPassword as exc:
                raise StanzaError("not-acceptable", str(exc)) from None
            except actions.AccountNotFound:
                raise StanzaError("registration-required") from None

    async def _cancel(self, stanza: Stanza) -> bool:
        """§3.2: delete the account, answer, then end every session of the account."""
        sender = stanza.from_
        origin = stanza.origin
        with keeping(origin):  # the requester gets its answer, then a clean close (below)
            try:
                await db(actions.do_delete_account, sender.local, sender.domain)
            except actions.AccountNotFound:
                raise StanzaError("registration-required") from None
        # Contacts' rosters on every node lose the account: accounts.signals.account_removed.
        origin.send(iq_result(stanza))
        # §3.2 scenario 1: "terminate all active sessions for the entity" — the others get
        # the <not-authorized/> stream error; the requester's stream is closed cleanly.
        for session in self.server.sessions.resources(sender.bare):
            if session is not origin:
                await _maybe_await(session.closer("not-authorized"))
        await _maybe_await(origin.closer(None))
        return True


def load(server: "Server") -> Module:
    module = server.module(
        "accounts", xep="XEP-0077", title="In-Band Registration", version="2.4",
        status="complete",
        notes=("registration before authentication (XMPP_ALLOW_REGISTRATION), data forms, "
               "password change, cancellation; SCRAM credentials only; last logout for XEP-0012"),
    )
    handlers = Accounts(server)
    module.hook("auth/credentials", handlers.credentials)
    module.hook("auth/check-password", handlers.check_password)
    module.hook("account/exists", handlers.exists)
    module.hook("session/closed", handlers.session_closed)
    module.hook("server/stopping", handlers.flush)
    module.hook("account/flush-logouts", handlers.flush)
    module.hook("presence/broadcast", handlers.observe_presence, priority=OBSERVE)
    # Always let register iqs through before authentication: when registration is off they
    # get the service-unavailable §3.1 requires rather than a stream error.
    server.preauth_namespaces.add(ns.REGISTER)
    module.hook(f"preauth-iq-get/{ns.REGISTER}:query", handlers.preauth_get)
    module.hook(f"preauth-iq-set/{ns.REGISTER}:query", handlers.preauth_set)
    module.stream_feature(handlers.stream_feature)
    for scope in ("self", "host"):
        module.iq("get", ns.REGISTER, "query", handlers.registered_get, scope=scope)
        module.iq("set", ns.REGISTER, "query", handlers.registered_set, scope=scope)
    module.add_feature(ns.REGISTER)
    return module
