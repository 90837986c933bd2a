"""Long-running commands through ad-hoc sessions: Celery (the embedded worker) runs them, the
session answers 'executing' with a note, shows progress, can cancel, and the result arrives
as a message."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from lxml import etree

from commands import registry
from commands.registry import Arg, Command
from tests.clients import connect
from tests.commands.test_adhoc import CMD, XD, actions_of, cmd_of, error_of, execute, form_of, notes_of, q
from tests.plugins.wire import eventually
from xmppcore import forms
from xmppcore.jid import JID
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


def _count(ctx: Any, steps: int, pause_ms: int) -> dict[str, int]:
    ctx.progress(0, steps, "starting")
    for i in range(steps):
        ctx.check_cancelled()
        time.sleep(pause_ms / 1000)
        ctx.progress(i + 1, steps, f"step {i + 1}")
    return {"steps": steps}


SLOW = Command("test_slow_count", "Count slowly, in the background.",
               (Arg("steps", "int", label="Steps", min=1, max=1000),
                Arg("pause_ms", "int", label="Pause (ms)", min=1, max=1000, required=False, default=50)),
               "dict", "server_admin", _count, long_running=True, category="tests")


@pytest.fixture
def slow(settings: Any) -> Any:
    settings.XMPP_ADMINS = ["admin@localhost"]
    registry.register(SLOW)
    yield SLOW
    registry.unregister(SLOW.name)


async def start(client: Any, node: str, values: dict[str, Any]) -> etree._Element:
    first = cmd_of(await execute(client, node))
    return cmd_of(await execute(client, node, sessionid=first.get("sessionid"), submit=values))


def progress_of(cmd_el: etree._Element) -> dict[str, str]:
    return {f.var: (f.value or "") for f in form_of(cmd_el).fields}


async def run_status(run_id: str) -> str:
    from commands.actions import get_run

    return (await db(get_run, run_id)).status


async def test_progress_then_result_message(xmpp: Any, slow: Command) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    started = await start(admin, slow.name, {"steps": "12", "pause_ms": "60"})
    sid = started.get("sessionid")
    assert started.get("status") == "executing"
    assert actions_of(started) == ("next", ["next"])
    (note,) = notes_of(started)
    assert note[0] == "info" and "running as task" in note[1]
    run_id = note[1].split("task ")[1].split(".")[0]
    assert progress_of(started)["status"] == "queued"

    async def running() -> dict[str, str] | None:
        reply = cmd_of(await execute(admin, slow.name, sessionid=sid))
        assert reply.get("status") == "executing"
        shown = progress_of(reply)
        return shown if shown["status"] == "running" and int(shown["done"]) > 0 else None

    shown = await eventually(running, timeout=5, interval=0.05)
    assert shown["total"] == "12" and shown["note"].startswith("step ")

    message = await admin.next_message(timeout=10)  # the result, as a message
    xml = etree.fromstring(ET.tostring(message.xml))
    assert xml.get("from") == "localhost" and xml.get("type") == "normal"
    assert xml.findtext(q("jabber:client", "thread")) == sid
    assert "test_slow_count: done." in xml.findtext(q("jabber:client", "body"))
    command = xml.find(q(CMD, "command"))
    assert command.get("status") == "completed" and command.get("sessionid") == sid
    result = forms.parse_form(command.find(q(XD, "x")))
    assert result.field("steps").values == ["12"]
    assert await run_status(run_id) == "done"

    # Executing the session again shows the result and ends it.
    done = cmd_of(await execute(admin, slow.name, sessionid=sid))
    assert done.get("status") == "completed" and form_of(done).field("steps").values == ["12"]
    reply = await execute(admin, slow.name, sessionid=sid)
    assert error_of(reply) == ("cancel", "not-allowed", "session-expired")


async def test_cancel_stops_the_run(xmpp: Any, slow: Command) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    started = await start(admin, slow.name, {"steps": "500", "pause_ms": "20"})
    sid = started.get("sessionid")
    run_id = notes_of(started)[0][1].split("task ")[1].split(".")[0]

    async def is_running() -> bool:
        return await run_status(run_id) == "running"

    await eventually(is_running, timeout=5)
    reply = await execute(admin, slow.name, sessionid=sid, action="prev")
    assert error_of(reply) == ("modify", "bad-request", "bad-action")
    canceled = cmd_of(await execute(admin, slow.name, sessionid=sid, action="cancel"))
    assert canceled.get("status") == "canceled"

    async def is_cancelled() -> bool:
        return await run_status(run_id) == "cancelled"

    await eventually(is_cancelled, timeout=5)
    from commands.actions import get_run

    run = await db(get_run, run_id)
    assert 0 < run.done < 500
    reply = await execute(admin, slow.name, sessionid=sid)
    assert error_of(reply) == ("cancel", "not-allowed", "session-expired")


async def test_builtin_announcement_to_all_users(xmpp: Any, slow: Command) -> None:
    """announce_all is a Celery command: the online user gets it now, the result comes as a message."""
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    await xmpp.add_user("bob")
    await xmpp.add_user("carol")  # offline: stored for later
    bob = await connect(xmpp, "bob@localhost")
    await eventually(lambda: any(s.is_available for s in xmpp.server.sessions.resources(JID.parse("bob@localhost"))))
    started = await start(admin, "announce_all", {"body": ["Maintenance tonight."], "domain": "localhost"})
    assert started.get("status") == "executing"
    announcement = await bob.next_message(timeout=10)
    assert announcement["body"] == "Maintenance tonight."
    results = []
    while not results:
        message = await admin.next_message(timeout=10)
        if message["thread"] == started.get("sessionid"):
            results.append(message)
    command = etree.fromstring(ET.tostring(results[0].xml)).find(q(CMD, "command"))
    assert forms.parse_form(command.find(q(XD, "x"))).field("users").values == ["3"]
    carol = await connect(xmpp, "carol@localhost")
    stored = await carol.next_message(timeout=5)
    assert stored["body"] == "Maintenance tonight."
