"""Starting and stopping the XMPP listeners of one process (used by `manage.py xmppd` and tests)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from xmppd import tls
from xmppd.hosts import component_names
from xmppd.server import Server
from xmppd.transports.tcp import Listener

log = logging.getLogger(__name__)


@dataclass
class Ports:
    c2s: int = 5222
    direct_tls: int = 5223


@dataclass
class Runner:
    server: Server
    app: Callable[..., Any]
    host: str = "127.0.0.1"
    ports: Ports = field(default_factory=Ports)
    cert: str = ""
    key: str = ""
    listeners: list[Listener] = field(default_factory=list)
    bound: Ports = field(default_factory=Ports)

    async def start(self) -> Ports:
        cfg = self.server.config
        # Component hosts get a certificate name like any domain (s2s peers check it).
        names = [*cfg.domains, *component_names(cfg.domains, cfg.components)]
        cert, key = tls.ensure_certificate(cfg.data_dir, names, self.cert, self.key)
        context = tls.server_context(cert, key)
        cert_der = tls.certificate_der(cert)
        await self.server.ensure_started()
        c2s = Listener(self.app, context, cert_der, direct_tls=False,
                       rate_limit_bytes=cfg.rate_limit_bytes, server=self.server)
        direct = Listener(self.app, context, cert_der, direct_tls=True,
                          rate_limit_bytes=cfg.rate_limit_bytes, server=self.server)
        self.bound = Ports(await c2s.start(self.host, self.ports.c2s),
                           await direct.start(self.host, self.ports.direct_tls))
        self.listeners = [c2s, direct]
        log.info("c2s on %s:%d, direct TLS on %s:%d", self.host, self.bound.c2s, self.host, self.bound.direct_tls)
        return self.bound

    async def stop(self, condition: str | None = "system-shutdown") -> None:
        """Stop accepting, end every session with `condition` (RFC 6120 §4.9.3.21), close."""
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
        # Last words to the sessions before they end (XEP-0045 status 332, for one).
        await self.server.hooks.fire_all("server/closing", self.server)
        for session in self.server.sessions.all():
            session.closer(condition)
        await self.server.hooks.fire_all("server/stopping", self.server)
        for listener in self.listeners:
            await listener.stop()
        await self.server.shutdown()
