"""The c2s driver: runs one client's stream machine over any transport (RFC 6120 §4-§7).

The driver owns negotiation (STARTTLS, SASL, resource binding) and hands bound
stanzas to the router. It never touches a socket: the transport object it is given
writes bytes, upgrades to TLS and closes.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from lxml import etree

from xmppcore import ns, sasl
from xmppcore.errors import StanzaError, StreamError, error_reply
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza, iq_result
from xmppcore.stream import (NonzaReceived, SaslReceived, StanzaReceived, StartTLSRequested,
                             StreamClosed, StreamMachine, StreamOpened)
from xmppd.authlimit import AuthThrottle, fake_scram_secret
from xmppd.origin import STREAM
from xmppd.sessions import Session
from xmppd.storage import PREFETCH, Prefetch

if TYPE_CHECKING:
    from xmppd.server import Server

log = logging.getLogger(__name__)
MAX_SASL_FAILURES = 5  # RFC 6120 §6.4.5: allow between 2 and 5 retries


def _throttle(server: "Server") -> AuthThrottle:
    """The server's SASL failure throttle (one per server, bounded by the configured ceiling)."""
    throttle = getattr(server, "auth_throttle", None)
    if throttle is None:
        throttle = server.auth_throttle = AuthThrottle(maximum=server.config.auth_failure_delay_max)
    return throttle


class Transport(Protocol):
    """What a driver needs from a connection (TCP, WebSocket, BOSH)."""

    kind: str
    peer: str
    is_secure: bool
    can_starttls: bool
    channel_bindings: dict[str, bytes]

    def write(self, data: bytes) -> bool: ...

    async def start_tls(self) -> None: ...

    def close(self) -> None: ...


def _el(namespace: str, name: str, text: str | None = None) -> etree._Element:
    el = etree.Element(ns.q(namespace, name), nsmap={None: namespace})
    if text is not None:
        el.text = text
    return el


class C2SDriver:
    """One client connection's protocol state, from stream header to close.

    Before binding the driver itself is the origin of the stream's stanzas (kind STREAM:
    pre-auth registration, resource binding); after binding its `Session` is.
    """

    kind = STREAM

    def __init__(self, server: "Server", transport: Transport) -> None:
        self.server = server
        self.transport = transport
        self.router = server.router
        cfg = server.config
        self.machine = StreamMachine(
            is_local_domain=server.is_local_domain, content_ns=ns.CLIENT,
            max_stanza_size=cfg.max_stanza_size, max_depth=cfg.max_depth,
            framing=getattr(transport, "framing", None),
            nonza_namespaces=frozenset(server.nonza_handlers),
            preauth_iq_namespaces=frozenset(getattr(server, "preauth_namespaces", ())),
        )
        self.machine.is_secure = transport.is_secure
        self.session: Session | None = None
        self.sasl: sasl.SaslServer | None = None
        self.sasl_offered: list[str] = []
        self.sasl_account: str | None = None  # bare JID the exchange names, normalized (RFC 7622)
        self.sasl_failures = 0
        self.is_closing = False
        self.stream_ended = False  # closed by the protocol (either side's </stream>, an error)
        self.login_prefetch: Prefetch | None = None  # reads started at SASL success, taken at bind
        self._closed_fired = False
        self.unavailable: etree._Element | None = None
        self.inflate: Callable[[bytes], bytes] | None = None  # XEP-0138: bytes before the parser
        self._login_timer = self._start_login_timer()
        # Issue 8: one address holds at most XMPP_MAX_UNAUTH_PER_IP streams not yet bound.
        self._address_slot = server.unauth_per_ip.acquire(transport.peer)

    def _start_login_timer(self) -> asyncio.TimerHandle | None:
        """A connection that has not bound a resource in time is dropped (RFC 6120 §4.9.3.4):
        half-open or silent streams must not hold a slot forever."""
        timeout = self.server.config.login_timeout
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return loop.call_later(timeout, self._login_timed_out) if timeout else None

    def _login_timed_out(self) -> None:
        if self.session is None and not self.is_closing:
            self.fail(StreamError("connection-timeout", "no login within the time limit"))

    def _end_login_phase(self) -> None:
        """Bound or gone: the login timer stops (it would keep this driver, its parser and
        its transport alive for the whole timeout) and the address slot is given back."""
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None
        if self._address_slot:
            self._address_slot = False
            self.server.unauth_per_ip.release(self.transport.peer)

    # -- properties modules look at ------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return self.machine.jid is not None

    @property
    def is_secure(self) -> bool:
        return self.machine.is_secure

    @property
    def domain(self) -> str | None:
        return self.machine.domain

    @property
    def is_closed(self) -> bool:
        return self.is_closing

    def send(self, el: etree._Element) -> bool:
        """Send an element before binding (pre-auth replies); after binding use the session."""
        return self.transport.write(etree.tostring(el))

    def _write_stanza(self, data: bytes) -> bool:
        """Session.writer: one stanza out to a bound client (counted for the stats command)."""
        self.server.stats["stanzas_out"] += 1
        return self.transport.write(data)

    # -- input ----------------------------------------------------------------
    async def data_received(self, data: bytes) -> None:
        if self.is_closing:
            return
        if self.session is not None:
            self.session.last_activity = time.monotonic()
        try:
            if self.inflate is not None:
                data = self.inflate(data)
            events = self.machine.iter_events(data)
            for event in events:
                if isinstance(event, StanzaReceived) and self.session is not None:
                    self.server.stats["stanzas_in"] += 1
                    self.session.received += 1
                    await self.router.route_from_client(event.element, self.session)
                else:
                    if isinstance(event, StartTLSRequested) and next(events, None) is not None:
                        # RFC 6120 §5.4.3.3: nothing may follow <starttls/> before the handshake;
                        # bytes sent in the clear must never count as post-TLS input.
                        raise StreamError("policy-violation", "data sent after <starttls/>")
                    if await self._handle(event):
                        break  # STARTTLS: nothing sent in the clear after it counts
                if self.is_closing:
                    return
        except StreamError as err:
            self.fail(err)
        except Exception:
            log.exception("c2s internal error for %s", self.transport.peer)
            self.fail(StreamError("internal-server-error"))

    async def _handle(self, event: Any) -> bool:
        if isinstance(event, StreamOpened):
            self._open_stream()
        elif isinstance(event, StanzaReceived):
            await self._on_unbound_stanza(event.element)
        elif isinstance(event, SaslReceived):
            await self._on_sasl(event.element)
        elif isinstance(event, StartTLSRequested):
            await self._on_starttls()
            return True
        elif isinstance(event, NonzaReceived):
            handler = self.server.nonza_handlers[etree.QName(event.element).namespace]
            result = handler(self, event.element)
            if asyncio.iscoroutine(result):
                await result
            # The handler restarted the stream (XEP-0138 <compressed/>): whatever else this
            # chunk held was sent before the client saw the restart (§6 forbids it).
            return not self.machine.opened
        elif isinstance(event, StreamClosed):
            self.close()
        return False

    # -- stream header and features --------------------------------------------
    def _open_stream(self) -> None:
        if not self._address_slot and self.session is None:
            # RFC 6120 §4.9.3.18: this address already holds its share of unbound streams.
            self.fail(StreamError("policy-violation", "too many unauthenticated connections from your address"))
            return
        # Two writes: a WebSocket carries each top-level element in its own message (RFC 7395 §3.3.3).
        self.transport.write(self.machine.open_bytes())
        self.transport.write(etree.tostring(self._features()))

    def _features(self) -> etree._Element:
        feats = etree.Element(ns.q(ns.STREAM, "features"), nsmap={"stream": ns.STREAM})
        cfg = self.server.config
        secure = self.machine.is_secure
        if not self.is_authenticated:
            if not secure and self.transport.can_starttls:
                tls = etree.SubElement(feats, ns.q(ns.TLS, "starttls"), nsmap={None: ns.TLS})
                if cfg.require_tls:
                    etree.SubElement(tls, ns.q(ns.TLS, "required"))
            if secure or not cfg.require_tls:
                self._add_mechanisms(feats)
        else:
            etree.SubElement(feats, ns.q(ns.BIND, "bind"), nsmap={None: ns.BIND})
            sess = etree.SubElement(feats, ns.q(ns.SESSION, "session"), nsmap={None: ns.SESSION})
            etree.SubElement(sess, ns.q(ns.SESSION, "optional"))  # RFC 6121 errata: legacy no-op
        if secure or not cfg.require_tls or self.is_authenticated:
            for provider in self.server.stream_features:
                feature = provider(self)
                if feature is not None:
                    feats.append(feature)
        return feats

    def _add_mechanisms(self, feats: etree._Element) -> None:
        cfg = self.server.config
        cb_types = list(self.transport.channel_bindings) if self.machine.is_secure else []
        allow_plain = self.machine.is_secure or not cfg.require_tls
        self.sasl_offered = sasl.mechanisms_offered(
            is_secure=self.machine.is_secure, allow_plain=allow_plain, channel_binding_types=cb_types)
        mechs = etree.SubElement(feats, ns.q(ns.SASL, "mechanisms"), nsmap={None: ns.SASL})
        for name in self.sasl_offered:
            etree.SubElement(mechs, ns.q(ns.SASL, "mechanism")).text = name
        if cb_types:  # XEP-0440: which channel-binding types we support
            cb = etree.SubElement(feats, ns.q(ns.SASL_CB, "sasl-channel-binding"), nsmap={None: ns.SASL_CB})
            for name in cb_types:
                etree.SubElement(cb, ns.q(ns.SASL_CB, "channel-binding")).set("type", name)

    # -- STARTTLS (RFC 6120 §5) --------------------------------------------------
    async def _on_starttls(self) -> None:
        if self.machine.is_secure or not self.transport.can_starttls or self.is_authenticated:
            # §5.4.2.2: failure, then close the stream.
            self.transport.write(etree.tostring(_el(ns.TLS, "failure")))
            self.transport.write(self.machine.close_bytes())
            self._shutdown()
            return
        self.transport.write(etree.tostring(_el(ns.TLS, "proceed")))
        try:
            await self.transport.start_tls()
        except StreamError as err:  # plaintext queued behind <starttls/> (transports/tcp.py)
            self.fail(err)
            return
        except Exception as exc:  # handshake failed: nothing more can be said on this socket
            log.info("TLS handshake with %s failed: %s", self.transport.peer, exc)
            self._shutdown()
            return
        self.machine.is_secure = True
        self.machine.restart()

    # -- SASL (RFC 6120 §6) ----------------------------------------------------
    async def _on_sasl(self, el: etree._Element) -> None:
        name = etree.QName(el).localname
        try:
            if name == "abort":
                self.sasl = None
                await self._sasl_failed("aborted", None)
                return
            if name == "auth":
                step = self._sasl_start(el)
            elif self.sasl is None:
                raise sasl.SaslError("malformed-request", "no authentication in progress")
            else:
                step = self.sasl.respond(sasl.decode_payload(el.text or "="))
            await self._sasl_step(step)
        except sasl.SaslError as err:
            self.sasl = None
            await self._sasl_failed(err.condition, err.text)

    def _sasl_start(self, el: etree._Element) -> sasl.Step:
        cfg = self.server.config
        if cfg.require_tls and not self.machine.is_secure:
            raise sasl.SaslError("encryption-required", "this server requires an encrypted connection")
        mech = el.get("mechanism") or ""
        if mech not in self.sasl_offered:
            raise sasl.SaslError("invalid-mechanism", f"{mech or 'no mechanism'} is not offered")
        bindings = self.transport.channel_bindings if self.machine.is_secure else {}
        self.sasl_account = None
        self.sasl = sasl.SaslServer(mech, channel_bindings=bindings, fake_secret=fake_scram_secret(),
                                    fake_iterations=cfg.scram_iterations)
        initial = None if not el.text else sasl.decode_payload(el.text)
        return self.sasl.start(initial)

    async def _sasl_step(self, step: sasl.Step) -> None:
        while isinstance(step, (sasl.NeedCredentials, sasl.NeedPasswordCheck)):
            username = self._normalize_username(step.username)
            self.sasl_account = f"{username}@{self.machine.domain}" if username else None
            if _throttle(self.server).is_locked(self.transport.peer, self.sasl_account):
                # RFC 6120 §6.5.12: refused at once, unchecked (no sleep, no key derivation).
                self.sasl = None
                await self._sasl_failed("temporary-auth-failure", "too many failed attempts, try later")
                return
            step = await self._sasl_lookup(step, username)
        if isinstance(step, sasl.Challenge):
            self.transport.write(etree.tostring(_el(ns.SASL, "challenge", _b64(step.data))))
        elif isinstance(step, sasl.Success):
            await self._sasl_succeeded(step)
        else:
            self.sasl = None
            await self._sasl_failed(step.condition, step.text)

    async def _sasl_lookup(self, step: sasl.Step, username: str | None) -> sasl.Step:
        hooks = self.server.hooks
        domain = self.machine.domain or ""
        if isinstance(step, sasl.NeedCredentials):
            creds = (await hooks.fire("auth/credentials", username, domain) or {}) if username else {}
            return self.sasl.provide_credentials(creds.get(step.hash_name))
        ok = bool(username) and bool(await hooks.fire("auth/check-password", username, domain, step.password))
        return self.sasl.password_checked(ok)

    @staticmethod
    def _normalize_username(raw: str) -> str | None:
        try:
            return JID.parse(f"{raw}@x").local
        except (InvalidJID, ValueError):
            return None

    async def _sasl_succeeded(self, step: sasl.Success) -> None:
        username = self._normalize_username(step.username)
        domain = self.machine.domain or ""
        if username is None:
            await self._sasl_failed("not-authorized", None)
            return
        bare = JID(username, domain, None)
        if step.authzid:
            try:
                authz = JID.parse(step.authzid)
            except InvalidJID:
                authz = None
            if authz != bare:  # §6.3.8: we let nobody act on behalf of another
                await self._sasl_failed("invalid-authzid", None)
                return
        self.sasl = None
        _throttle(self.server).record_success(str(bare))
        text = _b64(step.data) if step.data else None
        self.transport.write(etree.tostring(_el(ns.SASL, "success", text)))
        self.machine.jid = bare
        self.machine.restart()
        # The reads bind needs (roster, offline check) start now, in one trip to the DB
        # thread, while the client restarts its stream (RFC 6120 §6.4.6) and asks to bind.
        self.login_prefetch = Prefetch()
        await self.server.hooks.fire_all("auth/success", username, domain, self, self.login_prefetch)
        self.login_prefetch.start()

    async def _sasl_failed(self, condition: str, text: str | None) -> None:
        if condition not in ("aborted", "temporary-auth-failure"):
            _throttle(self.server).record_failure(self.transport.peer, self.sasl_account)
        failure = _el(ns.SASL, "failure")
        etree.SubElement(failure, ns.q(ns.SASL, condition))
        if text:
            t = etree.SubElement(failure, ns.q(ns.SASL, "text"))
            t.set(ns.q(ns.XML, "lang"), "en")
            t.text = text
        self.transport.write(etree.tostring(failure))
        self.sasl_failures += 1
        if self.sasl_failures >= MAX_SASL_FAILURES:
            self.fail(StreamError("policy-violation", "too many failed authentication attempts"))

    # -- before binding: registration and resource binding -----------------------
    async def _on_unbound_stanza(self, el: etree._Element) -> None:
        if not self.is_authenticated:
            await self._on_preauth_iq(el)
            return
        child = el[0]
        stanza = Stanza(el, "iq", None, None, self)
        if el.get("type") != "set" or el.get("id") is None:
            self.send(error_reply(el, StanzaError("bad-request")))
        elif child.tag == ns.q(ns.BIND, "bind"):
            await self._bind(stanza, child)
        else:  # legacy <session/> before bind: RFC 6121 errata says just answer it
            self.send(iq_result(stanza))

    async def _on_preauth_iq(self, el: etree._Element) -> None:
        child = el[0]
        qn = etree.QName(child)
        stanza = Stanza(el, "iq", None, None, self)
        try:
            result = await self.server.hooks.fire(f"preauth-iq-{el.get('type')}/{qn.namespace}:{qn.localname}", stanza)
            if result is None:
                raise StanzaError("service-unavailable")
            if isinstance(result, etree._Element):
                self.send(result)
        except StanzaError as err:
            reply = error_reply(el, err)
            if reply is not None:
                self.send(reply)

    async def _bind(self, stanza: Stanza, bind: etree._Element) -> None:
        """RFC 6120 §7: bind a resource; a conflicting session is replaced (§7.7.2.2 option 1)."""
        requested = bind.findtext(ns.q(ns.BIND, "resource"))
        bare = self.machine.jid
        try:
            resource = requested.strip() if requested and requested.strip() else secrets.token_hex(6)
            full = bare.with_resource(resource)
        except InvalidJID:
            self.send(error_reply(stanza.el, StanzaError("bad-request", "invalid resource")))
            return
        prefetch = self.login_prefetch
        if prefetch is not None:
            await prefetch.ready()  # usually done already: started at SASL success
            if self.is_closing:  # the connection went meanwhile: bind nothing
                return
        if self._is_over_resource_cap(full):
            # RFC 6120 §7.6.2.1: the account has reached its number of connected resources.
            self.send(error_reply(stanza.el, StanzaError("resource-constraint", "too many resources")))
            return
        session = Session(full, self._write_stanza, self._close_from_server,
                          transport=self.transport.kind, ip=self.transport.peer)
        session.connected_at = session.last_activity = time.monotonic()
        session.channel_name = getattr(self.transport, "channel_name", None)
        old = self.server.sessions.add(session)
        if old is not None and old is not session:
            old.closer("conflict")
        self.session = session
        self.machine.is_bound = True
        self._end_login_phase()
        result = etree.Element(ns.q(ns.BIND, "bind"), nsmap={None: ns.BIND})
        etree.SubElement(result, ns.q(ns.BIND, "jid")).text = str(full)
        self.send(iq_result(stanza, result))
        if prefetch is not None:
            session.data[PREFETCH] = prefetch  # taken by the modules at session/bound
        await self.server.hooks.fire_all("session/bound", session)
        session.data.pop(PREFETCH, None)
        self.login_prefetch = None

    # -- a session moving between streams (XEP-0198 resumption) ---------------------
    def take_over(self, session: Session) -> None:
        """This authenticated, unbound stream becomes the transport of a kept `session`."""
        session.attach(self._write_stanza, self._close_from_server, self.transport.kind,
                       self.transport.peer)
        self.session = session
        self.machine.is_bound = True
        self.login_prefetch = None
        self._end_login_phase()

    def give_up(self, condition: str) -> None:
        """Another stream took this one's session over: close with a stream error
        (`conflict`) and leave the session bound (it is not this stream's any more)."""
        session, self.session = self.session, None
        if session is not None and session.writer == self._write_stanza:
            session.detach()
        self.fail(StreamError(condition))

    def _is_over_resource_cap(self, full: JID) -> bool:
        """XMPP_MAX_RESOURCES: a new resource beyond the cap is refused, never an old one
        dropped; re-binding a bound resource replaces it (§7.7.2.2) and is always allowed."""
        cap = self.server.config.max_resources
        if not cap or self.server.sessions.get(full) is not None:
            return False
        return len(self.server.sessions.resources(full.bare)) >= cap

    # -- closing -----------------------------------------------------------------
    def fail(self, err: StreamError) -> None:
        """Send a stream error (with a header first if needed), then close (§4.9.1)."""
        if self.is_closing:
            return
        for frame in self.machine.error_frames(err, self.server.config.domains[0]):
            self.transport.write(frame)
        self._shutdown()

    def close(self) -> None:
        """Answer the peer's </stream:stream> with ours and close the connection (§4.4)."""
        if self.is_closing:
            return
        self.transport.write(self.machine.close_bytes())
        self._shutdown()

    def _close_from_server(self, condition: str | None) -> None:
        """Session.closer: the server ends this session (conflict, kick, timeout, shutdown)."""
        if condition:
            self.fail(StreamError(condition))
        else:
            self.close()

    def _shutdown(self) -> None:
        self.is_closing = True
        self.stream_ended = True
        if self.session is not None:
            self.session.is_closed = True
        self.transport.close()
        asyncio.get_running_loop().create_task(self.connection_lost())

    async def connection_lost(self) -> None:
        """The connection is gone (either side): unbind and tell the modules once."""
        self.is_closing = True
        self._end_login_phase()
        if self._closed_fired:
            return
        self._closed_fired = True
        session = self.session
        if session is None:
            return
        if not self.stream_ended and \
                await self.server.hooks.fire("session/transport-lost", session):
            # A module keeps the session for a later transport (XEP-0198 resumption): it
            # stays bound and present; the module ends it with `server.end_session` if nobody comes.
            session.detach()
            return
        await self.server.end_session(session, self.unavailable)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii") if data else "="
