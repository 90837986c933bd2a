"""Helpers for the JavaScript interop tests: the npm packages of tests/interop/package.json
(installed with `npm ci` when missing or stale) and the node command line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INTEROP = Path(__file__).resolve().parent
NODE_MODULES = INTEROP / "node_modules"
CHROMIUM = "/usr/bin/chromium"  # Debian's package `chromium` (`make interop` installs it)


def ensure_node_modules() -> None:
    """`npm ci` unless node_modules already matches package-lock.json (`make interop` does the same)."""
    installed = NODE_MODULES / ".package-lock.json"
    lock = INTEROP / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed for the interop tests (Node.js >= 20.10)"
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def node_modules() -> None:
    ensure_node_modules()


def node_command(script: str, *args: str) -> list[str]:
    """node with a global WebSocket (behind a flag before Node 22) running `script`."""
    node = shutil.which("node")
    assert node, "node is needed for the interop tests (Node.js >= 20.10)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    flags = ["--experimental-websocket"] if int(version.lstrip("v").split(".")[0]) < 22 else []
    return [node, *flags, str(INTEROP / script), *args]


async def subscribe_both(a: str, b: str) -> None:
    """Mutual subscription between two local users (RFC 6121 Appendix A), before they log in."""
    from rosters import actions
    from xmppcore.jid import JID
    from xmppd.storage import db

    ja, jb = JID.parse(a), JID.parse(b)
    for user, contact in ((ja, jb), (jb, ja)):
        await db(actions.do_outbound, user.local, user.domain, contact, "subscribe")
        await db(actions.do_inbound, contact.local, contact.domain, user, "subscribe", "<presence/>")
        await db(actions.do_outbound, contact.local, contact.domain, user, "subscribed")
        await db(actions.do_inbound, user.local, user.domain, contact, "subscribed")
