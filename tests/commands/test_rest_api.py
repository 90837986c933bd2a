"""The REST API's contract: authentication, scopes, status codes, error bodies, pagination,
one endpoint per command (GET for read-only ones), the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commands import registry
from tests.commands.helpers import Api, make_token
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def two_domains(settings: object) -> None:
    """No server runs in these tests: the hosted domains come from the settings."""
    settings.XMPP_DOMAINS = ["localhost", "example.org"]


async def _users(*names: str, domain: str = "localhost") -> None:
    from accounts.actions import do_create_account

    for name in names:
        await db(do_create_account, name, domain, "pw")


# -- authentication ----------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwdw==", "Bearer", "Bearer xst_not-a-token",
                                    "Bearer local_guess"])
async def test_no_or_bad_token_is_401(header: str | None) -> None:
    api = Api(None)
    api.client.defaults = {"HTTP_AUTHORIZATION": header} if header else {}
    r = await api.get("/api/users")
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert r.data["error"]["code"] == "unauthorized"


async def test_revoked_and_expired_tokens_are_401() -> None:
    from commands.actions import do_create_token, do_revoke_token

    token, raw = await db(do_create_token, "old")
    assert (await Api(raw).get("/api/users")).status_code == 200
    await db(do_revoke_token, token.id)
    assert (await Api(raw).get("/api/users")).status_code == 401
    _, expired = await db(do_create_token, "expired", "", False, timezone.now() - timedelta(seconds=1))
    assert (await Api(expired).get("/api/users")).status_code == 401


async def test_token_use_is_recorded() -> None:
    from commands.models import ApiToken

    raw = await make_token()
    await Api(raw).get("/api/users")
    token = await db(lambda: ApiToken.objects.get(prefix=raw[:12]))
    assert token.last_used_at is not None
    assert raw not in (token.digest, token.prefix) and len(token.prefix) == 12


# -- scopes: read-only and per-domain tokens ------------------------------------------------

async def test_read_only_token_reads_but_cannot_write() -> None:
    await _users("alice")
    api = Api(await make_token(read_only=True))
    assert (await api.get("/api/users")).status_code == 200
    assert (await api.get("/api/commands/count_users")).data == {"result": 1}
    for method, path, body in [("POST", "/api/users", {"jid": "x@localhost", "password": "pw"}),
                               ("DELETE", "/api/users/alice@localhost", None),
                               ("POST", "/api/users/alice@localhost/disable", {}),
                               ("POST", "/api/commands/unregister", {"jid": "alice@localhost"})]:
        r = await api.call(method, path, body)
        assert r.status_code == 403, (path, r.data)
        assert r.data["error"]["code"] == "forbidden"


async def test_domain_token_is_confined_to_its_domain() -> None:
    await _users("alice")
    await _users("bob", domain="example.org")
    api = Api(await make_token(domain="example.org"))
    r = await api.get("/api/users", domain="example.org")
    assert r.status_code == 200 and [u["jid"] for u in r.data["items"]] == ["bob@example.org"]
    assert (await api.get("/api/users")).status_code == 403  # no domain: would list every domain
    assert (await api.get("/api/users", domain="localhost")).status_code == 403
    assert (await api.delete("/api/users/alice@localhost")).status_code == 403
    assert (await api.post("/api/users", {"jid": "carol@example.org", "password": "pw"})).status_code == 201
    assert (await api.get("/api/stats")).status_code == 403  # server administrators only
    assert (await api.post("/api/commands/create_api_token", {"name": "mine"})).status_code == 403


# -- status codes and error bodies ----------------------------------------------------------

async def test_validation_errors_are_400_with_fields() -> None:
    api = Api(await make_token())
    r = await api.post("/api/users", {"jid": "not a jid@@", "password": ""})
    assert r.status_code == 400
    fields = r.data["error"]["fields"]
    assert set(fields) == {"jid", "password"} and fields["password"] == "is required"
    r = await api.post("/api/commands/delete_old_offline", {"days": "ten"})
    assert r.status_code == 400 and r.data["error"]["fields"] == {"days": "must be an integer"}
    r = await api.post("/api/commands/delete_old_offline", {"days": -1})
    assert r.data["error"]["fields"] == {"days": "must be at least 0"}
    r = await api.post("/api/commands/list_users", {"nope": 1})
    assert r.status_code == 400 and r.data["error"]["fields"] == {"nope": "unknown argument"}
    r = await api.call("POST", "/api/users", None)
    assert r.status_code == 400
    r = await api.client.post("/api/users", data=b"{not json", content_type="application/json",
                              headers=api._headers())
    assert r.status_code == 400
    r = await api.post("/api/users", {"jid": "x@unhosted.example", "password": "pw"})
    assert r.status_code == 400 and r.json()["error"]["fields"] == {"jid": "is not a domain this server hosts"}


async def test_not_found_conflict_and_method_not_allowed() -> None:
    await _users("alice")
    api = Api(await make_token())
    r = await api.post("/api/commands/no_such_command")
    assert r.status_code == 404 and r.data["error"]["code"] == "not-found"
    assert (await api.get("/api/users/nobody@localhost")).status_code == 404
    assert (await api.delete("/api/users/nobody@localhost")).status_code == 404
    r = await api.post("/api/users", {"jid": "alice@localhost", "password": "pw"})
    assert r.status_code == 409 and r.data["error"]["code"] == "conflict"
    r = await api.call("PATCH", "/api/users", {})
    assert r.status_code == 405 and r["Allow"] == "GET, POST"
    r = await api.get("/api/commands/unregister")  # changes state: POST only
    assert r.status_code == 405 and r["Allow"] == "POST"
    assert (await api.get("/api/tasks/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_get_runs_read_only_commands_with_query_arguments() -> None:
    await _users("alice", "bob")
    await _users("carol", domain="example.org")
    api = Api(await make_token())
    assert (await api.get("/api/commands/count_users", domain="example.org")).data == {"result": 1}
    r = await api.get("/api/commands/user_info", jid="alice@localhost")
    assert r.data["result"]["jid"] == "alice@localhost" and r.data["result"]["active"] is True
    r = await api.post("/api/commands/count_users", {"domain": "localhost"})
    assert r.data == {"result": 2}


async def test_pagination() -> None:
    await _users(*[f"user{i:02d}" for i in range(7)])
    api = Api(await make_token())
    r = await api.get("/api/users", page_size=3)
    assert r.data["total"] == 7 and r.data["page"] == 1 and r.data["page_size"] == 3
    assert [u["jid"] for u in r.data["items"]] == ["user00@localhost", "user01@localhost", "user02@localhost"]
    seen = [u["jid"] for u in r.data["items"]]
    while r.data["next"]:
        r = await api.get(r.data["next"])
        seen += [u["jid"] for u in r.data["items"]]
    assert seen == [f"user{i:02d}@localhost" for i in range(7)] and r.data["page"] == 3
    r = await api.get("/api/commands/list_users", page=2, page_size=5)
    assert [u["jid"] for u in r.data["result"]] == ["user05@localhost", "user06@localhost"]
    assert r.data["next"] is None
    for bad in ({"page": 0}, {"page_size": 501}, {"page": "x"}):
        r = await api.get("/api/users", **bad)
        assert r.status_code == 400 and set(r.data["error"]["fields"]) <= {"page", "page_size"}


async def test_commands_index_describes_every_command() -> None:
    r = await Api(await make_token(read_only=True)).get("/api/commands")
    names = {c["name"] for c in r.data["commands"]}
    assert names == {c.name for c in registry.all_commands()}
    register = next(c for c in r.data["commands"] if c["name"] == "register")
    assert register["args"][0]["name"] == "jid" and register["permission"] == "domain_admin"


async def test_api_tokens_through_the_api() -> None:
    api = Api(await make_token())
    r = await api.post("/api/commands/create_api_token", {"name": "ci", "domain": "localhost", "read_only": True})
    assert r.status_code == 200
    created = r.data["result"]
    assert created["scope"] == "localhost:read" and created["token"].startswith("xst_")
    assert (await Api(created["token"]).get("/api/users", domain="localhost")).status_code == 200
    listed = await api.get("/api/commands/list_api_tokens")
    assert "token" not in listed.data["result"][0]
    assert (await api.post("/api/commands/revoke_api_token", {"id": created["id"]})).status_code == 200
    assert (await Api(created["token"]).get("/api/users", domain="localhost")).status_code == 401


async def test_openapi_document() -> None:
    r = await Api(None).get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.data
    assert doc["openapi"] == "3.1.0"
    for cmd in registry.all_commands():
        ops = doc["paths"][f"/api/commands/{cmd.name}"]
        assert "post" in ops and ("get" in ops) == cmd.read_only
    body = doc["paths"]["/api/commands/delete_old_offline"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["days"] == {"type": "integer", "minimum": 0, "maximum": 36500,
                                                    "description": "Older than (days)"}
    assert doc["paths"]["/api/commands/delete_old_offline"]["post"]["responses"]["202"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert {"/api/users", "/api/users/{jid}", "/api/sessions", "/api/stats", "/api/tasks/{task_id}"} <= set(doc["paths"])


# -- permission denials on every command ------------------------------------------------------

def _sample_args(cmd: registry.Command, domain: str) -> dict:
    """Valid-looking arguments aimed at `domain` (so that only the permission can refuse them)."""
    values = {"jid": f"alice@{domain}", "user": f"alice@{domain}", "domain": domain, "contact": "bob@example.org",
              "to": f"alice@{domain}", "password": "pw", "body": "hi", "name": "n", "days": 1, "id": 1,
              "task_id": "00000000-0000-0000-0000-000000000000", "limit": 5,
              "vcard": "<vCard xmlns='vcard-temp'/>"}
    return {a.name: values[a.name] for a in cmd.args if a.required}


@pytest.mark.parametrize("name", [c.name for c in registry.all_commands() if not c.read_only])
async def test_read_only_tokens_cannot_run_commands_that_change_state(name: str) -> None:
    api = Api(await make_token(read_only=True))
    r = await api.post(f"/api/commands/{name}", _sample_args(registry.get(name), "localhost"))
    assert r.status_code == 403, r.data
    assert r.data["error"]["code"] == "forbidden"


@pytest.mark.parametrize("name", [c.name for c in registry.all_commands() if c.permission != "user" or c.arg("jid")])
async def test_domain_tokens_cannot_reach_other_domains_or_server_commands(name: str) -> None:
    api = Api(await make_token(domain="example.org"))
    r = await api.post(f"/api/commands/{name}", _sample_args(registry.get(name), "localhost"))
    assert r.status_code == 403, r.data


async def test_local_token_written_by_another_process_of_this_server(settings, tmp_path) -> None:
    """`xmppd --only c2s` and `--only http` share the data dir: the HTTP process accepts the
    token the other one wrote for xmppctl; a made-up local token is refused."""
    from commands.live import token_path
    from commands.runtime import write_token_file

    settings.XMPP_DATA_DIR = tmp_path
    write_token_file(token_path(tmp_path), "local_from-the-c2s-process", "http://127.0.0.1:1")
    assert (await Api("local_from-the-c2s-process").get("/api/stats")).status_code == 200
    assert (await Api("local_made-up").get("/api/stats")).status_code == 401
    token_path(tmp_path).unlink()
    assert (await Api("local_from-the-c2s-process").get("/api/stats")).status_code == 401
