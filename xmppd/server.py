"""The process-wide server object: configuration snapshot, hooks, hosts, the router, sessions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lxml import etree

from xmppd.hooks import HookBus
from xmppd.hosts import HostTable
from xmppd.limits import AddressCounter, StreamGauge
from xmppd.modules import Identity, Module, load_modules
from xmppd.priorities import OBSERVE
from xmppd.router import Router
from xmppd.sessions import SessionTable

# Component services and the setting naming each one's address ("" turns it off).
COMPONENT_SETTINGS = {"muc": "XMPP_MUC_HOST", "pubsub": "XMPP_PUBSUB_HOST",
                      "proxy": "XMPP_PROXY_HOST", "upload": "XMPP_UPLOAD_HOST"}
DEFAULT_COMPONENTS = {"muc": "conference.{domain}", "pubsub": "pubsub.{domain}",
                      "proxy": "proxy.{domain}", "upload": "upload.{domain}"}


@dataclass
class Config:
    """What the runtime needs from settings, read once (tests override fields)."""

    domains: list[str] = field(default_factory=lambda: ["localhost"])
    require_tls: bool = True
    allow_registration: bool = False
    max_stanza_size: int = 262144
    max_depth: int = 64
    admins: list[str] = field(default_factory=list)
    scram_iterations: int = 4096
    offline_quota: int = 1000
    ping_interval: float = 300.0
    ping_timeout: float = 60.0
    auth_failure_delay_max: float = 5.0
    rate_limit_bytes: int = 1024 * 1024
    max_connections: int = 20000
    login_timeout: float = 120.0  # seconds from connect to a bound resource
    max_unauth_per_ip: int = 30  # connections not yet bound, per address (0: no limit)
    max_resources: int = 10  # bound resources per account (RFC 6120 §7.6.2.1)
    max_roster_items: int = 1000  # roster items per account
    offline_per_sender: int = 100  # offline messages one sender may leave for one recipient
    data_dir: str = "var"
    redis_url: str = ""  # set: this node joins the cluster (xmppd/cluster.py)
    cluster_prefix: str = "xmppsite"  # Redis key prefix: one per cluster
    # service -> address template of its component host, "{domain}" per user domain
    components: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COMPONENTS))
    csi_queue_max: int = 256  # XEP-0352: stanzas held for an inactive client before a flush
    compression: str = "off"  # XEP-0138: off | plain (unencrypted streams only) | always
    compression_max_inflate: int = 1024 * 1024  # XEP-0138: inflated bytes of one received chunk

    @classmethod
    def from_settings(cls) -> "Config":
        from django.conf import settings as s

        return cls(
            domains=[d.lower() for d in s.XMPP_DOMAINS], require_tls=s.XMPP_REQUIRE_TLS,
            allow_registration=s.XMPP_ALLOW_REGISTRATION, max_stanza_size=s.XMPP_MAX_STANZA_SIZE,
            max_depth=s.XMPP_MAX_DEPTH, admins=list(s.XMPP_ADMINS),
            scram_iterations=s.XMPP_SCRAM_ITERATIONS, offline_quota=s.XMPP_OFFLINE_QUOTA,
            ping_interval=s.XMPP_PING_INTERVAL, ping_timeout=s.XMPP_PING_TIMEOUT,
            auth_failure_delay_max=s.XMPP_AUTH_FAILURE_DELAY_MAX,
            rate_limit_bytes=s.XMPP_RATE_LIMIT_BYTES, data_dir=str(s.XMPP_DATA_DIR),
            max_connections=s.XMPP_MAX_CONNECTIONS, login_timeout=s.XMPP_LOGIN_TIMEOUT,
            max_unauth_per_ip=s.XMPP_MAX_UNAUTH_PER_IP, max_resources=s.XMPP_MAX_RESOURCES,
            max_roster_items=s.XMPP_MAX_ROSTER_ITEMS, offline_per_sender=s.XMPP_OFFLINE_PER_SENDER,
            redis_url=s.REDIS_URL if s.XMPP_CLUSTER else "", cluster_prefix=s.XMPP_CLUSTER_PREFIX,
            components={service: getattr(s, name, DEFAULT_COMPONENTS[service])
                        for service, name in COMPONENT_SETTINGS.items()},
            csi_queue_max=s.XMPP_CSI_QUEUE_MAX, compression=s.XMPP_COMPRESSION.lower(),
            compression_max_inflate=s.XMPP_COMPRESSION_MAX_INFLATE,
        )


class Server:
    """Everything shared by the sessions of one process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.hooks = HookBus()
        self.sessions = SessionTable(self.hooks)
        self.features: list[str] = []
        self.identities: list[Identity] = [Identity("server", "im", "xmppsite")]
        self.stream_features: list[Callable[[Any], etree._Element | None]] = []
        self.nonza_handlers: dict[str, Callable[..., Any]] = {}
        self.preauth_namespaces: set[str] = set()  # XEP-0077 §3: iq namespaces allowed before auth
        self.modules: list[Module] = []
        self.cluster: Any = None  # xmppd.cluster.Cluster when several nodes serve the domains
        self._started: asyncio.Task | None = None
        self.auth_throttle: Any = None  # xmppd.authlimit.AuthThrottle, made by the c2s driver
        self.started_at = time.time()
        self.stats: dict[str, int] = {"stanzas_in": 0, "stanzas_out": 0}
        self.unauth_per_ip = AddressCounter(config.max_unauth_per_ip)  # c2s drivers not yet bound
        self.streams = StreamGauge(config.max_connections)  # TCP and WebSocket streams open
        self._domains = frozenset(config.domains)
        self.hosts = HostTable(self)
        self.hosts.set_user_domains(list(config.domains))
        self.router = Router(self)  # the one router of this server (one send path)
        from xmppd.delivery import register_core_hooks

        register_core_hooks(self)
        self._describe_core()

    def _describe_core(self) -> None:
        """Metadata for what the runtime itself implements (for `xep_report`)."""
        self.module("core", xep="RFC 6120", title="XMPP Core: streams, STARTTLS, SASL, binding, stanzas",
                    version="RFC 6120")
        self.module("jid", xep="RFC 7622", title="JID format (PRECIS)", version="RFC 7622")
        self.module("escaping", xep="XEP-0106", title="JID Escaping", version="1.1")
        self.module("directtls", xep="XEP-0368", title="SRV records for XMPP over TLS (direct TLS port)",
                    version="1.1.0")
        self.module("sasl-cb", xep="XEP-0440", title="SASL Channel-Binding Type Capability",
                    version="0.4.0")

    def is_local_domain(self, domain: str) -> bool:
        return domain in self._domains

    def set_domains(self, domains: list[str]) -> None:
        self.config.domains = list(domains)
        self._domains = frozenset(domains)
        self.hosts.set_user_domains(list(domains))

    async def ensure_started(self) -> None:
        """Once per process, on the event loop: join the cluster (when Redis is configured)
        and tell the modules the server runs. Listeners call it; so does every consumer, for
        processes that only serve HTTP (`daphne xmppsite.asgi:application`, `xmppd --only http`)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        if self.config.redis_url:
            from xmppd.cluster import Cluster

            cluster = Cluster(self, self.config.redis_url, prefix=self.config.cluster_prefix)
            await cluster.start()
            self.cluster = cluster
            self.hooks.add("session/bound", cluster.session_up, OBSERVE)
            self.hooks.add("session/presence-changed", cluster.session_changed, OBSERVE)
            self.hooks.add("session/state-changed", cluster.session_changed, OBSERVE)
            self.hooks.add("session/closed", cluster.session_down, OBSERVE)
        await self.hooks.fire_all("server/started", self)

    async def shutdown(self) -> None:
        """Leave the cluster (the other nodes drop this node's sessions at once)."""
        if self.cluster is not None:
            await self.cluster.stop()
            self.cluster = None

    async def end_session(self, session: Any, unavailable: etree._Element | None = None) -> None:
        """Unbind a local session for good and tell the modules once (`session/closed`)."""
        session.is_closed = True
        session.writer = None
        self.sessions.remove(session)
        await self.hooks.fire_all("session/closed", session, unavailable)

    def module(self, name: str, **meta: Any) -> Module:
        mod = Module(self, name, **meta)
        self.modules.append(mod)
        return mod

    def load(self, paths: list[str]) -> None:
        load_modules(self, paths)


_server: Server | None = None


def get_server() -> Server:
    """The process's server, built from settings on first use."""
    global _server
    if _server is None:
        from django.conf import settings

        server = Server(Config.from_settings())
        server.load(list(settings.XMPP_MODULES))
        _server = server
    return _server


def reset_server(config: Config | None = None, modules: list[str] | None = None) -> Server:
    """A fresh server (tests; `xmppd` startup)."""
    global _server
    from django.conf import settings

    server = Server(config or Config.from_settings())
    server.load(list(modules if modules is not None else settings.XMPP_MODULES))
    _server = server
    return server
