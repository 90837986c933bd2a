"""The seam between commands and the running server of this process: the one place in the
commands app that knows how to find it.

`commands.runtime` (an XMPP module) registers the server and its event loop when it starts;
commands that touch live state (sessions, delivery, stats) reach it through here, from the
loop itself (REST views, ad-hoc) or from a Celery worker thread (long commands).
`current()` is the one lookup of the whole app: the server started here and its loop.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from lxml import etree

from xmppcore.jid import JID


if TYPE_CHECKING:
    from xmppd.server import Server

T = TypeVar("T")
CALL_TIMEOUT = 30.0
_lock = threading.Lock()
_running: "Current | None" = None
_local_token: str | None = None


@dataclass(frozen=True)
class Current:
    """The server of this process, and the loop it runs on (None: not started here)."""

    server: "Server"
    loop: asyncio.AbstractEventLoop | None


def set_running(server: "Server | None", loop: asyncio.AbstractEventLoop | None = None) -> None:
    global _running
    with _lock:
        _running = Current(server, loop) if server is not None and loop is not None else None


def current(*, build: bool = False) -> Current | None:
    """The server running in this process and its loop; else None, or with `build` the
    process's server made from settings (`xmppd.server.get_server`: not started, no
    sessions, no loop) so commands run from a shell or a bare HTTP process still see the
    configuration. The one way the commands app finds its server."""
    running = _running
    if running is not None or not build:
        return running
    from xmppd.server import get_server

    return Current(get_server(), None)


def set_local_token(token: str | None) -> None:
    global _local_token
    _local_token = token


LOCAL_TOKEN_PREFIX = "local_"
TOKEN_FILE = "xmppctl.json"


def token_path(data_dir: str | Path) -> Path:
    """Where `xmppd` keeps the local admin token and API address for `xmppctl`."""
    return Path(data_dir) / TOKEN_FILE


def local_token() -> str | None:
    """The admin token this process wrote to XMPP_DATA_DIR for `xmppctl` (None when not running)."""
    return _local_token


def local_tokens() -> list[str]:
    """Local tokens the API accepts: this process's, and the one in XMPP_DATA_DIR/xmppctl.json
    — written by whichever process of this server started last (`xmppd --only c2s` and
    `--only http` share the data dir: xmppctl talks to the HTTP one with the file's token)."""
    import json

    from django.conf import settings

    tokens = [_local_token] if _local_token else []
    try:
        written = json.loads(token_path(settings.XMPP_DATA_DIR).read_text()).get("token")
    except (OSError, ValueError, AttributeError):
        written = None
    if isinstance(written, str) and written.startswith(LOCAL_TOKEN_PREFIX):
        tokens.append(written)
    return tokens


def on_server(fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = CALL_TIMEOUT) -> T:
    """Run the coroutine function `fn(*args)` on the server's loop from another thread and
    wait for its result; without a server in this process, run it in a private loop."""
    running = current()
    if running is None or running.loop is None:
        return asyncio.run(fn(*args))
    loop = running.loop
    try:
        caller = asyncio.get_running_loop()
    except RuntimeError:
        caller = None
    if caller is loop:
        raise RuntimeError("on_server() called from the server's own loop: await instead")
    return asyncio.run_coroutine_threadsafe(fn(*args), loop).result(timeout)


async def route(server: "Server", el: etree._Element) -> None:
    """Route a server-generated stanza like any other (the server's one router): local
    resources, else the offline store (messages of type normal/chat), else an error back to
    the server, which drops it (RFC 6120 §8.3: errors are not answered)."""
    await server.router.route(el)


def close_sessions(server: "Server", bare: JID, condition: str) -> int:
    """End every session of `bare` on this process with a stream error; returns how many."""
    sessions = server.sessions.resources(bare)
    for session in sessions:
        session.closer(condition)
    return len(sessions)


ROUTE_CHANNEL = "xmppd.commands.route"  # a shared queue: one xmppd process routes each stanza


def deliver(el: etree._Element) -> None:
    """Route a server-generated stanza from a worker thread (sync): on this process's server
    when it runs here, else through the channel layer to whichever xmppd process takes it
    from ROUTE_CHANNEL (a separate Celery worker in production)."""
    running = current()
    if running is not None:
        on_server(route, running.server, el)
        return
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no running server in this process and no channel layer to reach one")
    async_to_sync(layer.send)(ROUTE_CHANNEL, {"type": "commands.route",
                                              "xml": etree.tostring(el, encoding="unicode")})
