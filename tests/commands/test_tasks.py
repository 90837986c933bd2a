"""Long commands as Celery tasks on the embedded worker: 202 + Location, progress, result,
cancel (cooperative flag and before start), idempotence, the run-finished hook."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, Iterator

import pytest
from django.utils import timezone

from commands import actions, execution, registry
from commands.models import CommandRun
from commands.registry import Arg, Command, Context
from tests.clients import connect
from tests.commands.helpers import SERVER_ADMIN, Api, make_token, wait_for
from xmppd.storage import db


def slow_count(ctx: Context, steps: int) -> dict[str, int]:
    """A test command: counts to `steps`, 20 ms a step, reporting progress and honouring cancel."""
    for i in range(steps):
        ctx.check_cancelled()
        ctx.progress(i, steps, f"step {i}")
        time.sleep(0.02)
    return {"counted": steps}


@pytest.fixture
def slow_command() -> Iterator[Command]:
    cmd = registry.register(Command("t_slow_count", "count slowly", (Arg("steps", "int", min=1),), "dict",
                                    "server_admin", slow_count, long_running=True, category="tests"))
    yield cmd
    registry.unregister(cmd.name)


async def poll(api: Api, location: str, until: Any, timeout: float = 10.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await api.get(location)
        assert r.status_code == 200, r.data
        return r.data if until(r.data) else None
    return await wait_for(check, timeout=timeout)


async def test_long_command_runs_asynchronously_with_progress(xmpp, slow_command: Command) -> None:
    api = Api(await make_token())
    started = time.monotonic()
    r = await api.post("/api/commands/t_slow_count", {"steps": 40})
    assert time.monotonic() - started < 0.5  # answered at once: the work is on the worker
    assert r.status_code == 202
    location = r["Location"]
    assert location == f"/api/tasks/{r.data['task_id']}" == r.data["status_url"]
    running = await poll(api, location, lambda d: d["status"] == "running" and d["progress"]["done"] > 0)
    assert running["progress"]["total"] == 40 and running["progress"]["note"].startswith("step")
    done = await poll(api, location, lambda d: d["status"] == "done")
    assert done["result"] == {"counted": 40}
    assert done["progress"]["done"] == 40 and done["finished_at"] and done["error"] is None


async def test_cancel_stops_a_running_task(xmpp, slow_command: Command) -> None:
    api = Api(await make_token())
    r = await api.post("/api/commands/t_slow_count", {"steps": 500})
    location = r["Location"]
    await poll(api, location, lambda d: d["status"] == "running" and d["progress"]["done"] >= 3)
    r = await api.delete(location)
    assert r.status_code == 200 and r.data["cancel_requested"] is True
    final = await poll(api, location, lambda d: d["status"] != "running")
    assert final["status"] == "cancelled"
    assert final["progress"]["done"] < 500 and final["result"] is None
    # Cancelling again, or a finished run, changes nothing.
    assert (await api.delete(location)).data["status"] == "cancelled"


async def test_cancel_before_start_and_idempotent_execution(transactional_db: None, slow_command: Command) -> None:
    run = await db(actions.do_create_run, "t_slow_count", {"steps": 2}, SERVER_ADMIN.as_dict(), "cli")
    run = await db(execution.cancel, str(run.id))
    assert run.status == CommandRun.CANCELLED and run.note == "cancelled before it started"
    await db(execution.execute, str(run.id))  # a late delivery of the message does nothing
    assert (await db(actions.get_run, run.id)).status == CommandRun.CANCELLED
    other = await db(actions.do_create_run, "t_slow_count", {"steps": 2}, SERVER_ADMIN.as_dict(), "cli")
    await db(execution.execute, str(other.id))
    first = await db(actions.get_run, other.id)
    await db(execution.execute, str(other.id))  # delivered twice: runs once
    second = await db(actions.get_run, other.id)
    assert first.status == second.status == CommandRun.DONE and first.finished_at == second.finished_at


async def test_failed_and_invalid_runs_record_the_error(transactional_db: None) -> None:
    run = await db(actions.do_create_run, "export_user", {"jid": "ghost@localhost"}, SERVER_ADMIN.as_dict(), "cli")
    await db(execution.execute, str(run.id))
    run = await db(actions.get_run, run.id)
    assert run.status == CommandRun.FAILED and run.error["code"] == "not-found"
    bad = await db(actions.do_create_run, "delete_old_offline", {"days": "x"}, SERVER_ADMIN.as_dict(), "cli")
    await db(execution.execute, str(bad.id))
    bad = await db(actions.get_run, bad.id)
    assert bad.status == CommandRun.FAILED and bad.error["fields"] == {"days": "must be an integer"}


async def test_delete_old_offline_messages(xmpp) -> None:
    from offline.actions import count_messages, do_store_message
    from offline.models import OfflineMessage

    def fill() -> None:
        for user in ("alice", "bob"):
            for i in range(30):
                do_store_message(user, "localhost", "x@localhost", f"<message xmlns='jabber:client'><body>{i}</body></message>", 1000)
        old = timezone.now() - timedelta(days=40)
        OfflineMessage.objects.filter(id__in=list(OfflineMessage.objects.order_by("id").values_list("id", flat=True)[:45])).update(stored_at=old)

    await db(fill)
    api = Api(await make_token())
    r = await api.post("/api/commands/delete_old_offline", {"days": 30})
    assert r.status_code == 202
    done = await poll(api, r["Location"], lambda d: d["status"] == "done")
    assert done["result"] == {"deleted": 45} and done["progress"]["total"] == 45
    assert await db(count_messages, "alice", "localhost") == 0
    assert await db(count_messages, "bob", "localhost") == 15
    r = await api.post("/api/commands/delete_old_offline", {"days": 30})  # again: nothing left
    assert (await poll(api, r["Location"], lambda d: d["status"] == "done"))["result"] == {"deleted": 0}


async def test_announce_to_all_users_online_now_offline_later(xmpp) -> None:
    from offline.actions import count_messages

    for user in ("alice", "bob", "carol"):
        await xmpp.add_user(user)
    alice = await connect(xmpp, "alice@localhost")
    await wait_for(lambda: all(s.is_available for s in xmpp.server.sessions.all()))
    api = Api(await make_token())
    r = await api.post("/api/announcements", {"body": "We are moving", "audience": "all"})
    assert r.status_code == 202
    done = await poll(api, r["Location"], lambda d: d["status"] == "done")
    assert done["result"] == {"users": 3}
    msg = await alice.next_message()
    assert msg["body"] == "We are moving" and msg["from"].full == "localhost"
    assert await db(count_messages, "bob", "localhost") == 1
    bob = await connect(xmpp, "bob@localhost")
    stored = await bob.next_message()
    assert stored["body"] == "We are moving"
    assert stored.xml.find("{urn:xmpp:delay}delay") is not None


async def test_export_user_data(xmpp) -> None:
    from rosters.actions import do_set_item

    await xmpp.add_user("alice")
    await db(do_set_item, "alice", "localhost", "bob@example.org", "Bob", ("Friends",))
    api = Api(await make_token())
    r = await api.post("/api/users/alice@localhost/export")
    assert r.status_code == 202
    done = await poll(api, r["Location"], lambda d: d["status"] == "done")
    data = done["result"]
    assert data["jid"] == "alice@localhost" and data["account"]["active"] is True
    assert data["roster"]["items"] == [{"jid": "bob@example.org", "name": "Bob", "subscription": "none",
                                        "ask": False, "groups": ["Friends"]}]


async def test_runs_are_visible_to_their_owner_only(xmpp, slow_command: Command) -> None:
    admin = Api(await make_token())
    r = await admin.post("/api/commands/t_slow_count", {"steps": 1})
    location = r["Location"]
    await poll(admin, location, lambda d: d["status"] == "done")
    other = Api(await make_token(domain="localhost"))
    assert (await other.get(location)).status_code == 404
    assert (await other.delete(location)).status_code == 404
    assert (await other.get("/api/tasks")).data["items"] == []
    assert [t["command"] for t in (await admin.get("/api/tasks")).data["items"]] == ["t_slow_count"]


async def test_run_finished_hook_fires_on_the_server(xmpp, slow_command: Command) -> None:
    finished: asyncio.Queue[dict] = asyncio.Queue()
    xmpp.server.hooks.add("commands/run-finished", finished.put_nowait)
    result = await execution.run("t_slow_count", SERVER_ADMIN, {"steps": "2"})
    run = await asyncio.wait_for(finished.get(), 10)
    assert run["id"] == result["task_id"] and run["status"] == "done" and run["result"] == {"counted": 2}


async def test_runs_left_by_a_previous_process_are_marked_interrupted(transactional_db: None) -> None:
    run = await db(actions.do_create_run, "announce_all", {"body": "x"}, SERVER_ADMIN.as_dict(), "cli")
    assert await db(actions.do_fail_interrupted_runs, timezone.now()) == 1
    run = await db(actions.get_run, run.id)
    assert run.status == CommandRun.FAILED and "restarted" in run.error["message"]
