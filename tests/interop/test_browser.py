"""Headless Chromium (Debian's `chromium`, driven by playwright-core from npm) opens a chat page
that logs in over WebSocket with @xmpp/client's browser bundle and exchanges a message with a
slixmpp user on TCP. The page's origin (http://localhost:<port>) goes through the Origin check."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from tests.clients import connect
from tests.interop.jsclients import CHROMIUM, INTEROP, node_command, node_modules, subscribe_both  # noqa: F401
from tests.interop.test_js_websocket import next_event
from tests.transports.conftest import WebServer, make_web, web  # noqa: F401 (fixtures)


async def test_browser_page_chats_with_a_tcp_user(web: WebServer, node_modules: None, settings: Any,
                                                   tmp_path: Path) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: `make interop` (apt-get install -y chromium)"
    settings.XMPP_WS_ALLOWED_ORIGINS = ["localhost"]  # the page is on http://localhost:<port>
    await web.xmpp.add_user("carol", "in-the-browser")
    await web.xmpp.add_user("dave")
    await subscribe_both("carol@localhost", "dave@localhost")
    dave = await connect(web.xmpp, "dave@localhost", resource="tcp")
    dave.add_event_handler("message", lambda m: m["body"] and dave.send_message(
        mto=m["from"], mbody=f"dave got: {m['body']}", mtype="chat"))
    screenshot = tmp_path / "chat.png"
    proc = await asyncio.create_subprocess_exec(
        *node_command("browser_chat.mjs", web.ws_url, "localhost", "carol", "in-the-browser", "dave@localhost",
                      str(screenshot)),
        cwd=INTEROP, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    events: list[dict] = []
    try:
        # The browser bundle leaves SCRAM out; ws:// to loopback counts as secure enough for PLAIN.
        assert await next_event(proc, events, 30) == {"event": "auth", "mechanism": "PLAIN"}
        online = await next_event(proc, events)
        assert online["jid"] == "carol@localhost/browser" and online["origin"].startswith("http://localhost:")
        assert await next_event(proc, events) == {"event": "presence", "from": "dave@localhost/tcp",
                                                   "type": "available"}
        reply = await next_event(proc, events)
        assert reply["event"] == "message" and reply["from"] == "dave@localhost/tcp"
        assert reply["body"].startswith("dave got: hello from ") and "Chrome" in reply["body"]
        assert (await next_event(proc, events))["event"] == "done"
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert screenshot.stat().st_size > 1000
