"""`manage.py xmppd`: the whole server in one process and one event loop.

c2s (STARTTLS) and direct-TLS listeners, and the Django site (admin, later BOSH and
WebSocket) served by Daphne on XMPP_HTTP_PORT. SIGTERM/SIGINT end every session with
<system-shutdown/> and exit cleanly. A process that serves HTTP first collects the static files
when the collected ones are missing or stale.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import resource
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

log = logging.getLogger("xmppd")


def _tune_gc() -> None:
    """Fewer, cheaper cyclic-GC passes: the long-lived objects (code, modules, settings) are
    frozen out of the scans, and young collections run every 50 000 allocations, not 700."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _raise_fd_limit() -> None:
    """10 000 connections need more than the usual 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def static_sources() -> dict[str, str]:
    """What collectstatic would copy: name under STATIC_URL -> source path (the first finder wins)."""
    from django.apps import apps
    from django.contrib.staticfiles import finders

    ignore = apps.get_app_config("staticfiles").ignore_patterns  # collectstatic's defaults
    found: dict[str, str] = {}
    for finder in finders.get_finders():
        for path, storage in finder.list(ignore):
            prefix = getattr(storage, "prefix", None)
            name = f"{prefix}/{path}" if prefix else path
            found.setdefault(name.replace(os.sep, "/"), storage.path(path))
    return found


def is_static_stale(manifest: Path, sources: dict[str, str]) -> bool:
    """True when the collected files lag their sources: no manifest, a file added or removed, or a
    file changed since the manifest was written."""
    try:
        collected_at = manifest.stat().st_mtime
        names = set(json.loads(manifest.read_text())["paths"])
    except (OSError, ValueError, KeyError, TypeError):
        return True
    if names != set(sources):
        return True
    return any(os.stat(path).st_mtime > collected_at for path in sources.values())


def collect_static(stdout: Any) -> bool:
    """collectstatic into STATIC_ROOT when its manifest is missing or stale (a few seconds: hashed
    names, .gz and .br copies); a few milliseconds of stat() calls otherwise. Only manifest
    storages are collected: without one (XMPP_STATIC_FROM_APPS) files come from the apps.
    A lock file keeps two processes on one data dir from collecting at once."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.management import call_command

    manifest_name = getattr(staticfiles_storage, "manifest_name", None)
    if manifest_name is None:
        return False
    root = Path(settings.STATIC_ROOT)
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_static_stale(root / manifest_name, static_sources()):
            return False
        call_command("collectstatic", interactive=False, verbosity=0)
    stdout.write(f"xmppd: static files collected into {root}\n")
    return True


def _https_endpoint(port: int, bind: str) -> str:
    """A Twisted TLS endpoint for Daphne (HTTPS, wss://) with the certificate c2s uses."""
    from twisted.internet.endpoints import quoteStringArgument as quote

    from xmppd import tls

    from xmppd.hosts import component_names
    from xmppd.server import Config

    cfg = Config.from_settings()
    names = [*cfg.domains, *component_names(cfg.domains, cfg.components)]
    cert, key = tls.ensure_certificate(str(settings.XMPP_DATA_DIR), names,
                                       settings.XMPP_TLS_CERT, settings.XMPP_TLS_KEY)
    endpoint = f"ssl:port={port}:interface={quote(bind)}:privateKey={quote(key)}:certKey={quote(cert)}"
    with open(cert, "rb") as f:  # certKey loads the leaf only: send an operator's intermediates too
        if f.read().count(b"-----BEGIN CERTIFICATE-----") > 1:
            endpoint += f":extraCertChain={quote(cert)}"
    return endpoint


def admin_endpoint(bind: str) -> str:
    """XMPP_ADMIN_HTTP_BIND ("host:port"): the separate listener that alone answers /admin/ and
    /api/ (xmppsite.security); keep it on loopback or a management network."""
    from twisted.internet.endpoints import quoteStringArgument as quote

    host, _, port = bind.strip().rpartition(":")
    return f"tcp:port={int(port)}:interface={quote(host.strip('[]') or '127.0.0.1')}"


class Command(BaseCommand):
    help = "Run the XMPP server (c2s, direct TLS, HTTP) in one process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-http", action="store_true", help="do not serve HTTP (Daphne)")
        parser.add_argument("--only", choices=("c2s", "http"),
                            help="serve only the XMPP TCP listeners (c2s) or only HTTP (admin, API, "
                                 "WebSocket, BOSH); several such processes form one server through "
                                 "Redis (REDIS_URL)")
        parser.add_argument("--c2s-port", type=int, default=settings.XMPP_C2S_PORT)
        parser.add_argument("--tls-port", type=int, default=settings.XMPP_TLS_PORT)
        parser.add_argument("--http-port", type=int, default=settings.XMPP_HTTP_PORT)
        parser.add_argument("--https-port", type=int, default=settings.XMPP_HTTPS_PORT,
                            help="HTTPS and wss:// with the c2s certificate (0: off)")
        parser.add_argument("--bind", default=settings.XMPP_BIND)
        parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio loop (see manage.py)")

    def handle(self, *args: Any, **opts: Any) -> None:
        _raise_fd_limit()
        from daphne.server import Server as Daphne
        from twisted.internet import defer, reactor

        from xmppd.runner import Ports, Runner
        from xmppd.server import get_server
        from django.utils.module_loading import import_string

        serve_c2s = opts["only"] in (None, "c2s")
        serve_http = opts["only"] in (None, "http") and not opts["no_http"]
        if serve_http:  # before the application loads: WhiteNoise indexes STATIC_ROOT then
            collect_static(self.stdout)
        application = import_string(settings.ASGI_APPLICATION)

        server = get_server()
        _tune_gc()
        runner = Runner(server, application, host=opts["bind"],
                        ports=Ports(opts["c2s_port"], opts["tls_port"]),
                        cert=settings.XMPP_TLS_CERT, key=settings.XMPP_TLS_KEY)
        loop = reactor._asyncioEventloop  # Daphne's reactor runs on this asyncio loop

        def started() -> None:
            if serve_c2s:
                task = loop.create_task(runner.start())
                task.add_done_callback(lambda t: self._report(t, opts))
            else:
                task = loop.create_task(server.ensure_started())
                task.add_done_callback(lambda t: self._report_http(t, opts))

        def stopping() -> Any:
            return defer.Deferred.fromFuture(loop.create_task(runner.stop("system-shutdown")))

        reactor.addSystemEventTrigger("before", "shutdown", stopping)
        endpoints = [f"tcp:port={opts['http_port']}:interface={opts['bind']}"] if serve_http else []
        if serve_http and opts["https_port"]:
            endpoints.append(_https_endpoint(opts["https_port"], opts["bind"]))
        if serve_http and settings.XMPP_ADMIN_HTTP_BIND:
            endpoints.append(admin_endpoint(settings.XMPP_ADMIN_HTTP_BIND))
        if not endpoints:  # c2s only: Daphne refuses to run without an endpoint; the reactor alone will
            reactor.callWhenRunning(started)
            reactor.run(installSignalHandlers=True)
            self._exit_if_failed()
            return
        # websocket_timeout=-1: an XMPP session over WebSocket lasts as long as the client wants.
        daphne = Daphne(application=application, endpoints=endpoints, ready_callable=started,
                        signal_handlers=True, verbosity=0, websocket_timeout=-1)
        daphne.run()
        if not daphne.listening_addresses:  # Daphne could not bind: it stopped the reactor itself
            raise CommandError(f"could not listen on HTTP port {opts['http_port']}")
        self._exit_if_failed()

    def _exit_if_failed(self) -> None:
        """A supervisor must see a failed start as a failure (non-zero exit status)."""
        if getattr(self, "_start_error", None) is not None:
            raise CommandError(f"could not start: {self._start_error}")

    def _report_http(self, task: asyncio.Task, opts: dict) -> None:
        if task.exception() is not None:
            self._start_error = task.exception()
            log.error("could not start: %s", task.exception())
            from twisted.internet import reactor

            reactor.stop()
            return
        self.stdout.write(f"xmppd: HTTP only on {opts['bind']}:{opts['http_port']} "
                          f"(WebSocket /xmpp-websocket, BOSH /http-bind, admin, API)")
        self.stdout.flush()

    def _report(self, task: asyncio.Task, opts: dict) -> None:
        if task.exception() is not None:
            self._start_error = task.exception()
            log.error("could not start: %s", task.exception())
            from twisted.internet import reactor

            reactor.stop()
            return
        ports = task.result()
        self.stdout.write(
            f"xmppd: c2s on {opts['bind']}:{ports.c2s} (STARTTLS), direct TLS on {opts['bind']}:{ports.direct_tls}, "
            f"HTTP on {opts['bind']}:{opts['http_port']}; domains: {', '.join(settings.XMPP_DOMAINS)}\n"
            f"Log in with any XMPP client as user@{settings.XMPP_DOMAINS[0]} on {opts['bind']}:{ports.c2s} "
            "(the certificate is self-signed: accept it once).\n"
            f"Add a user:  .venv/bin/python manage.py adduser alice@{settings.XMPP_DOMAINS[0]}\n"
            f"Web admin:   http://{opts['bind']}:{opts['http_port']}/admin/ (manage.py createsuperuser)"
        )
        self.stdout.flush()
