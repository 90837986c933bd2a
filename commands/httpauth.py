"""XEP-0070: Verifying HTTP Requests via XMPP. The web portal asks a user to confirm a login
or an action from their XMPP client.

The server sends <confirm xmlns='http://jabber.org/protocol/http-auth' id= method= url=/>:
in an <iq type='get'> to a full JID that is online here (§4.5), otherwise in a normal
<message/> with a <thread/> and a human-readable <body/> to the bare JID. It then waits,
bounded, for the answer (§4.6): an IQ result or a message carrying the <confirm/> back
accepts; an IQ error or a message of type error (<not-authorized/>) denies; a plain-text
reply in the thread ("OK" / "No") is understood too, as §4.5 asks of a server that sends a
body.

Two HTTP faces (xmppsite/urls.py):
  POST /api/verify-request  {jid, method, url, id[, timeout]} with an API bearer token that
      administers the JID's domain → 200 {"status": "confirmed"}, or 401 with status
      "denied", "timeout" or "unavailable" (no resource online), 429 when the user already
      has MAX_PENDING confirmations waiting.
  /auth/xmpp/  the §4.1-§4.3 flow for a browser: 401 with `WWW-Authenticate: Basic
      realm="xmpp"`; Basic credentials are the JID and the transaction id (percent-encoded,
      RFC 3986 §2.1); confirmed → 200 and the Django session remembers the verified JID,
      denied → 403 (§4.7). That session is ended when the account's password changes or the
      account is disabled or deleted (`commands.revocation`, issue 8).

Hooks handled:
  http-auth/confirm (jid, method, url, txid, timeout) -> "confirmed" | "denied" | "timeout" | "unavailable" | "busy"
  iq-response: the client's answer to a confirmation sent by IQ
  message/host: the client's answer to a confirmation sent by message
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import unquote, urlsplit

from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from lxml import etree

from commands import actions
from commands.ratelimit import Window
from xmppcore import ns
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza, make
from xmppd.priorities import INTERCEPT
from xmppd.storage import db

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from xmppd.modules import Module
    from xmppd.server import Server

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 300.0
MAX_PENDING = 3  # per bare JID: bounds prompt bombing (§6.1)
MAX_TXID = 64  # the id is shown to the user (§4.5): short, one line
SESSION_KEY = "xmpp_verified_jid"
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")  # xs:NCName and an HTTP token (RFC 9110 §9.1)
# Control, format (bidi overrides) and line/paragraph separators: the id the user reads in their
# client must be one honest line (§6.1), not a forged second line of the prompt.
_UNSHOWABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# /auth/xmpp/ attempts per client address and prompts per target account (§6.1), per minute.
PER_ADDRESS = Window()
PER_ACCOUNT = Window()
ACCEPT_WORDS = frozenset({"ok", "yes", "y", "confirm", "accept"})
DENY_WORDS = frozenset({"no", "n", "deny", "reject"})


@dataclass
class Pending:
    target: JID
    txid: str
    method: str
    url: str
    future: asyncio.Future[str]
    iq_id: str | None = None
    thread: str | None = None


@dataclass
class HttpAuth:
    server: "Server"
    by_iq: dict[str, Pending] = field(default_factory=dict)
    by_thread: dict[str, Pending] = field(default_factory=dict)

    def confirm_element(self, pending: Pending) -> etree._Element:
        el = etree.Element(ns.q(ns.HTTP_AUTH, "confirm"), nsmap={None: ns.HTTP_AUTH})
        el.set("id", pending.txid)
        el.set("method", pending.method)
        el.set("url", pending.url)
        return el

    def _pending_for(self, bare: JID) -> list[Pending]:
        return [p for p in (*self.by_iq.values(), *self.by_thread.values()) if p.target.bare == bare]

    async def confirm(self, jid: JID, method: str, url: str, txid: str, timeout: float) -> str:
        """Ask `jid` to confirm; the outcome after at most `timeout` seconds."""
        if len(self._pending_for(jid.bare)) >= MAX_PENDING:
            return "busy"
        pending = Pending(jid, txid, method, url, asyncio.get_running_loop().create_future())
        session = self.server.sessions.get(jid) if jid.resource is not None else None
        if session is not None:
            self._send_iq(pending, session)
        elif self.server.sessions.available(jid.bare):
            await self._send_message(pending)
        else:
            return "unavailable"
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except asyncio.TimeoutError:
            return "timeout"
        finally:
            self.by_iq.pop(pending.iq_id or "", None)
            self.by_thread.pop(pending.thread or "", None)

    def _send_iq(self, pending: Pending, session: Any) -> None:
        # §4.5: a full JID gets an IQ of type get from the server.
        pending.iq_id = f"ha-{secrets.token_hex(8)}"
        iq = make("iq", type_="get", id_=pending.iq_id, to=pending.target, from_=pending.target.domain)
        iq.append(self.confirm_element(pending))
        self.by_iq[pending.iq_id] = pending
        session.send(iq)

    async def _send_message(self, pending: Pending) -> None:
        # §4.5: a bare JID gets a normal message with a thread and instructions.
        from commands import live

        pending.thread = secrets.token_hex(16)
        bare = pending.target.bare
        msg = make("message", type_="normal", to=bare, from_=bare.domain, id_=f"ha-{secrets.token_hex(6)}")
        etree.SubElement(msg, ns.q(ns.CLIENT, "thread")).text = pending.thread
        etree.SubElement(msg, ns.q(ns.CLIENT, "body")).text = (
            f"Someone (maybe you) has requested {pending.method} {pending.url}\n"
            f"The transaction identifier is: {pending.txid}\n"
            "If you wish to confirm the request, reply to this message with \"OK\"; if not, with \"No\".")
        msg.append(self.confirm_element(pending))
        self.by_thread[pending.thread] = pending
        await live.route(self.server, msg)

    @staticmethod
    def _settle(pending: Pending, outcome: str) -> None:
        if not pending.future.done():
            pending.future.set_result(outcome)

    def iq_response(self, stanza: Stanza) -> bool | None:
        """§4.6: an IQ result accepts, an IQ error (not-authorized) denies."""
        pending = self.by_iq.get(stanza.id or "")
        if pending is None or stanza.from_ != pending.target:
            return None
        self._settle(pending, "confirmed" if stanza.type == "result" else "denied")
        return True

    def message_reply(self, stanza: Stanza) -> bool | None:
        """§4.6: a message mirroring the thread (or carrying the confirm id) answers."""
        if stanza.from_ is None:
            return None
        confirm = stanza.el.find(ns.q(ns.HTTP_AUTH, "confirm"))
        pending = self._match_message(stanza, confirm)
        if pending is None:
            return None
        if stanza.type == "error":
            self._settle(pending, "denied")
        elif confirm is not None:
            self._settle(pending, "confirmed")
        else:
            word = (stanza.el.findtext(ns.q(ns.CLIENT, "body")) or "").strip().strip(".!").lower()
            if word in ACCEPT_WORDS:
                self._settle(pending, "confirmed")
            elif word in DENY_WORDS:
                self._settle(pending, "denied")
            else:
                return None
        return True

    def _match_message(self, stanza: Stanza, confirm: etree._Element | None) -> Pending | None:
        bare = stanza.from_.bare
        thread = stanza.el.findtext(ns.q(ns.CLIENT, "thread"))
        pending = self.by_thread.get(thread or "")
        if pending is not None:
            return pending if pending.target.bare == bare else None
        candidates = [p for p in self.by_thread.values() if p.target.bare == bare]
        if confirm is not None:
            candidates = [p for p in candidates if p.txid == confirm.get("id")]
        # Without a thread, only an unambiguous answer counts.
        return candidates[0] if len(candidates) == 1 else None


def load(server: "Server") -> "Module":
    module = server.module("http-auth", xep="XEP-0070", title="Verifying HTTP Requests via XMPP",
                           version="1.0.2", status="complete",
                           notes="POST /api/verify-request for the portal; Basic realm=\"xmpp\" at /auth/xmpp/ "
                                 "(no Digest); confirmations to resources on this node")
    auth = HttpAuth(server)
    module.hook("http-auth/confirm", auth.confirm)
    module.hook("iq-response", auth.iq_response)
    module.hook("message/host", auth.message_reply, priority=INTERCEPT)
    module.add_feature(ns.HTTP_AUTH)
    return module


# -- the HTTP side ------------------------------------------------------------------------

class InvalidRequest(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


async def _on_server(call: Callable[["Server"], Awaitable[str]]) -> str:
    """Run `call(server)` on the XMPP server's event loop (directly when it is this one)."""
    from commands import live

    running = live.current(build=True)
    assert running is not None  # built from settings when none runs here
    if running.loop is None or running.loop is asyncio.get_running_loop():
        return await call(running.server)
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(running.server), running.loop))


async def request_confirmation(jid: JID, method: str, url: str, txid: str,
                               timeout: float = DEFAULT_TIMEOUT) -> str:
    """The portal's entry point: ask `jid`, wait at most `timeout` seconds, return the outcome."""
    async def ask(server: "Server") -> str:
        outcome = await server.hooks.fire("http-auth/confirm", jid, method, url, txid, timeout)
        return outcome or "unavailable"

    return await _on_server(ask)


def check_target(text: Any, domains: list[str]) -> JID:
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("jid", "a JID is required")
    try:
        jid = JID.parse(text.strip())
    except InvalidJID:
        raise InvalidRequest("jid", "is not a valid JID") from None
    if jid.local is None or jid.domain not in domains:
        raise InvalidRequest("jid", "must be an account of a domain this server hosts")
    return jid


def check_fields(method: Any, url: Any, txid: Any) -> tuple[str, str, str]:
    """§4.5: 'method' an HTTP method, 'url' the full HTTP URL, 'id' the transaction id."""
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise InvalidRequest("method", "must be an HTTP method such as GET or POST")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise InvalidRequest("url", "must be a full http(s) URL")
    if not isinstance(txid, str) or not txid or len(txid) > MAX_TXID:
        raise InvalidRequest("id", f"a transaction id of 1 to {MAX_TXID} characters is required")
    if any(unicodedata.category(c) in _UNSHOWABLE for c in txid):
        raise InvalidRequest("id", "the transaction id must be one line of printable characters")
    return method.upper(), url, txid


def _timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidRequest("timeout", "must be a number of seconds") from None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise InvalidRequest("timeout", f"must be between 0 and {MAX_TIMEOUT:g} seconds")
    return seconds


def _outcome_response(outcome: str, jid: JID, txid: str) -> "HttpResponse":
    from django.http import JsonResponse

    status = {"confirmed": 200, "busy": 429}.get(outcome, 401)
    response = JsonResponse({"status": outcome, "jid": str(jid), "id": txid}, status=status)
    if status == 401:  # RFC 9110 §15.5.2: a 401 names the scheme to use
        response["WWW-Authenticate"] = 'Basic realm="xmpp"'
    return response


@csrf_exempt  # a bearer-token API: no cookies, so no cross-site forgery to guard against
async def verify_request(request: "HttpRequest") -> "HttpResponse":
    """POST /api/verify-request: the portal asks a user to confirm a login or an action."""
    from commands import api
    from commands.builtin._common import hosted_domains

    if request.method != "POST":
        return api.error_response("method-not-allowed", "use POST", headers={"Allow": "POST"})
    try:
        actor = await api.authenticate(request)
        data = api.json_body(request) if request.content_type == "application/json" else request.POST.dict()
    except api.ApiError as exc:
        return api.from_exception(exc)
    try:
        jid = check_target(data.get("jid"), hosted_domains())
        method, url, txid = check_fields(data.get("method"), data.get("url"), data.get("id"))
        timeout = _timeout(data.get("timeout"))
    except InvalidRequest as exc:
        return api.error_response("bad-request", f"{exc.field}: {exc}", fields={exc.field: str(exc)})
    if actor.read_only or not actor.administers(jid.domain):
        return api.error_response("forbidden", f"this token may not verify users of {jid.domain}")
    return _outcome_response(await request_confirmation(jid, method, url, txid, timeout), jid, txid)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """§4.3.1: Basic credentials are the JID and the transaction id, percent-encoded then Base64."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    userid, sep, password = decoded.partition(":")
    if not sep:
        return None
    return unquote(userid), unquote(password)


def _challenge(status: int, message: str) -> "HttpResponse":
    from django.http import JsonResponse

    response = JsonResponse({"status": "unauthorized" if status == 401 else "denied", "message": message},
                            status=status)
    if status == 401:  # §4.2: at least one challenge with the realm "xmpp"
        response["WWW-Authenticate"] = 'Basic realm="xmpp"'
    return response


def _too_many(message: str) -> "HttpResponse":
    from django.http import JsonResponse

    response = JsonResponse({"status": "busy", "message": message}, status=429)
    response["Retry-After"] = str(int(PER_ADDRESS.period))  # RFC 6585 §4
    return response


@require_safe  # GET/HEAD only: a confirmed login changes the session, never other state
async def xmpp_login(request: "HttpRequest") -> "HttpResponse":
    """/auth/xmpp/: §4.1-§4.7 for a browser; a confirmed JID is kept in the Django session."""
    from django.conf import settings
    from django.http import JsonResponse

    from commands.builtin._common import hosted_domains

    credentials = basic_credentials(request.headers.get("Authorization", ""))
    if credentials is None:
        return _challenge(401, "log in with your JID as user name and a transaction id of your "
                               "choice as password; confirm it in your XMPP client")
    userid, txid = credentials
    if not PER_ADDRESS.allow(request.META.get("REMOTE_ADDR", ""), settings.XMPP_HTTP_AUTH_PER_ADDRESS):
        return _too_many("too many attempts from your address")
    try:
        jid = check_target(userid, hosted_domains())
        method, url, txid = check_fields(request.method, request.build_absolute_uri(), txid)
    except InvalidRequest as exc:
        return _challenge(401, f"{exc.field}: {exc}")
    if not PER_ACCOUNT.allow(str(jid.bare), settings.XMPP_HTTP_AUTH_PER_ACCOUNT):
        return _too_many("too many confirmations asked of this account")
    outcome = await request_confirmation(jid, method, url, txid)
    if outcome == "denied":  # §4.7: the HTTP server MUST return Forbidden
        return _challenge(403, "the request was denied from the XMPP client")
    if outcome != "confirmed":
        return _challenge(401, f"the request was not confirmed ({outcome})")
    await request.session.aset(SESSION_KEY, str(jid.bare))
    await request.session.acycle_key()  # a fresh key for the authorised session (no fixation)
    # Issue 8: the session ends with the account's credentials (commands.revocation).
    await db(actions.do_record_verified_session, str(jid.bare), request.session.session_key)
    return JsonResponse({"status": "confirmed", "jid": str(jid.bare)})
