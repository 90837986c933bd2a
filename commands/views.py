"""The REST management API under /api/ (JSON, bearer tokens): one endpoint per registry
command (`/api/commands/<name>`: POST, and GET for read-only ones) and resource-style
endpoints for the common ones. The OpenAPI 3.1 schema (`commands.openapi`) documents both.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from commands import registry
from commands import execution
from commands.validation import to_json
from commands.api import (PAGE_PARAMS, ApiError, authenticate, check_query, error_response, from_exception,
                          json_body, json_response, no_content, page_params, paginate, query_args)
from commands.openapi import build_schema
from commands.registry import Actor, CommandError
from xmppcore.jid import JID

log = logging.getLogger(__name__)
Handler = Callable[..., Awaitable[HttpResponse]]
PAGED_SHAPES = frozenset({"list", "table"})


def endpoint(methods_for: Callable[..., dict[str, Handler]] | None = None, *,
             query: frozenset[str] | None = frozenset(), **methods: Handler) -> Callable[..., Awaitable[HttpResponse]]:
    """A view answering the given HTTP methods (handler(request, actor, **kwargs)) — or those
    `methods_for(**kwargs)` returns —; others get 405 with Allow. Every request is
    authenticated; errors become JSON error bodies. `query`: the query parameters allowed
    (None: the handler checks them)."""

    @csrf_exempt
    async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            here = methods_for(**kwargs) if methods_for is not None else methods
            handler = here.get(request.method.lower())
            if handler is None:
                raise ApiError("method-not-allowed", f"{request.method} is not allowed here",
                               headers={"Allow": ", ".join(sorted(m.upper() for m in here))})
            actor = await authenticate(request)
            if query is not None:
                check_query(request, query)
            return await handler(request, actor, **kwargs)
        except (ApiError, CommandError) as exc:
            return from_exception(exc)
        except Exception:
            log.exception("API %s %s failed", request.method, request.path)
            return error_response("internal", "internal server error")

    return view


async def _run(actor: Actor, name: str, args: dict[str, Any], *, strict: bool) -> Any:
    return await execution.run(name, actor, args, strict=strict)


def _accepted(result: dict[str, Any]) -> JsonResponse:
    """202 for a queued long command, with where to poll it."""
    location = f"/api/tasks/{result['task_id']}"
    return json_response({"task_id": result["task_id"], "status_url": location}, status=202,
                         headers={"Location": location})


def _multi(cmd: registry.Command) -> frozenset[str]:
    return frozenset(a.name for a in cmd.args if a.type in ("jids", "list-multi"))


async def _command_response(request: HttpRequest, cmd: registry.Command, result: Any) -> JsonResponse:
    if cmd.long_running:
        return _accepted(result)
    if cmd.result in PAGED_SHAPES:
        return json_response(paginate(request, to_json(result), "result"))
    return json_response({"result": result})


# -- /api/commands ------------------------------------------------------------------------

async def commands_index(request: HttpRequest, actor: Actor) -> HttpResponse:
    return json_response({"commands": [describe(c) for c in registry.all_commands()]})


def describe(cmd: registry.Command) -> dict[str, Any]:
    return {"name": cmd.name, "description": cmd.description, "category": cmd.category,
            "permission": cmd.permission, "result": cmd.result, "long_running": cmd.long_running,
            "read_only": cmd.read_only, "xep0133_node": cmd.xep0133_node,
            "args": [{"name": a.name, "type": a.type, "label": a.title, "required": a.required,
                      "default": to_json(a.default), "choices": list(a.choices), "min": a.min,
                      "max": a.max, "regex": a.regex, "help": a.help} for a in cmd.args]}


def _paging(cmd: registry.Command) -> frozenset[str]:
    return PAGE_PARAMS if cmd.result in PAGED_SHAPES and not cmd.long_running else frozenset()


async def command_get(request: HttpRequest, actor: Actor, name: str) -> HttpResponse:
    cmd = registry.get(name)
    page_params(request)
    result = await _run(actor, name, query_args(request, _multi(cmd), skip=_paging(cmd)), strict=False)
    return await _command_response(request, cmd, result)


async def command_post(request: HttpRequest, actor: Actor, name: str) -> HttpResponse:
    cmd = registry.get(name)
    check_query(request, _paging(cmd))
    page_params(request)
    result = await _run(actor, name, json_body(request), strict=True)
    return await _command_response(request, cmd, result)


def _command_methods(name: str) -> dict[str, Handler]:
    """POST for every command, GET too for those that change nothing (404: no such command)."""
    cmd = registry.get(name)
    return {"get": command_get, "post": command_post} if cmd.read_only else {"post": command_post}


command_view = endpoint(_command_methods, query=None)
commands_index_view = endpoint(get=commands_index)


# -- /api/users -------------------------------------------------------------------------

def _only(body: dict[str, Any], *names: str) -> dict[str, Any]:
    extra = sorted(set(body) - set(names))
    if extra:
        raise ApiError("bad-request", f"unknown fields: {', '.join(extra)}", {k: "unknown argument" for k in extra})
    return body


async def users_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    page_params(request)
    rows = await _run(actor, "list_users", query_args(request), strict=False)
    return json_response(paginate(request, to_json(rows), "items"))


async def users_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    check_query(request, frozenset())
    body = _only(json_body(request), "jid", "password")
    await _run(actor, "register", body, strict=True)
    jid = str(JID.parse(body["jid"].strip()))  # valid: register accepted it
    location = f"/api/users/{quote(jid, safe='@')}"
    return json_response({"jid": jid}, status=201, headers={"Location": location})


async def user_get(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    return json_response(await _run(actor, "user_info", {"jid": jid}, strict=True))


async def user_delete(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    await _run(actor, "unregister", {"jid": jid}, strict=True)
    return no_content()


async def user_password(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    body = _only(json_body(request), "password")
    await _run(actor, "change_password", {"jid": jid, **body}, strict=True)
    return no_content()


async def user_disable(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    await _run(actor, "disable_account", {"jid": jid}, strict=True)
    return no_content()


async def user_enable(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    await _run(actor, "enable_account", {"jid": jid}, strict=True)
    return no_content()


async def user_sessions(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    page_params(request)
    rows = await _run(actor, "user_sessions", {"jid": jid}, strict=True)
    return json_response(paginate(request, to_json(rows), "items"))


async def user_export(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    return _accepted(await _run(actor, "export_user", {"jid": jid}, strict=True))


async def roster_list(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    check_query(request, PAGE_PARAMS)
    page_params(request)
    rows = await _run(actor, "roster_get", {"jid": jid}, strict=True)
    return json_response(paginate(request, to_json(rows), "items"))


async def roster_add(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    check_query(request, frozenset())
    body = _only(json_body(request), "contact", "name", "groups")
    if isinstance(body.get("groups"), list):
        if not all(isinstance(g, str) for g in body["groups"]):
            raise ApiError("bad-request", "groups must be a list of strings", {"groups": "must be strings"})
        body["groups"] = "\n".join(body["groups"])
    await _run(actor, "roster_add", {"jid": jid, **body}, strict=True)
    return no_content()


async def roster_delete(request: HttpRequest, actor: Actor, jid: str, contact: str) -> HttpResponse:
    await _run(actor, "roster_remove", {"jid": jid, "contact": contact}, strict=True)
    return no_content()


# -- sessions, stats, messages, motd, tasks ------------------------------------------------

async def sessions_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    page_params(request)
    rows = await _run(actor, "list_sessions", query_args(request), strict=False)
    return json_response(paginate(request, to_json(rows), "items"))


async def session_delete(request: HttpRequest, actor: Actor, jid: str) -> HttpResponse:
    await _run(actor, "kick_session", {"jid": jid}, strict=True)
    return no_content()


async def stats_get(request: HttpRequest, actor: Actor) -> HttpResponse:
    return json_response(await _run(actor, "stats", query_args(request, skip=frozenset()), strict=False))


async def messages_post(request: HttpRequest, actor: Actor) -> HttpResponse:
    await _run(actor, "send_message", json_body(request), strict=True)
    return json_response({"result": None})


async def announcements_post(request: HttpRequest, actor: Actor) -> HttpResponse:
    body = json_body(request)
    audience = body.pop("audience", "online")
    if audience not in ("online", "all"):
        raise ApiError("bad-request", "audience must be online or all", {"audience": "must be online or all"})
    if audience == "all":
        return _accepted(await _run(actor, "announce_all", body, strict=True))
    return json_response({"result": await _run(actor, "announce_online", body, strict=True)})


async def motd_get(request: HttpRequest, actor: Actor, domain: str) -> HttpResponse:
    return json_response(await _run(actor, "get_motd", {"domain": domain}, strict=True))


async def motd_put(request: HttpRequest, actor: Actor, domain: str) -> HttpResponse:
    body = _only(json_body(request), "body", "subject")
    await _run(actor, "set_motd", {"domain": domain, **body}, strict=True)
    return no_content()


async def motd_delete(request: HttpRequest, actor: Actor, domain: str) -> HttpResponse:
    await _run(actor, "delete_motd", {"domain": domain}, strict=True)
    return no_content()


async def tasks_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    page_params(request)
    rows = await _run(actor, "list_tasks", {"limit": 500}, strict=True)
    return json_response(paginate(request, to_json(rows), "items"))


async def task_get(request: HttpRequest, actor: Actor, task_id: str) -> HttpResponse:
    return json_response(await _run(actor, "task_status", {"task_id": task_id}, strict=True))


async def task_delete(request: HttpRequest, actor: Actor, task_id: str) -> HttpResponse:
    return json_response(await _run(actor, "task_cancel", {"task_id": task_id}, strict=True))


users_view = endpoint(get=users_list, post=users_create, query=None)
user_view = endpoint(get=user_get, delete=user_delete)
user_password_view = endpoint(post=user_password, put=user_password)
user_disable_view = endpoint(post=user_disable)
user_enable_view = endpoint(post=user_enable)
user_sessions_view = endpoint(get=user_sessions, query=PAGE_PARAMS)
user_export_view = endpoint(post=user_export)
roster_view = endpoint(get=roster_list, post=roster_add, query=None)
roster_item_view = endpoint(delete=roster_delete)
sessions_view = endpoint(get=sessions_list, query=None)
session_view = endpoint(delete=session_delete)
stats_view = endpoint(get=stats_get, query=None)
messages_view = endpoint(post=messages_post)
announcements_view = endpoint(post=announcements_post)
motd_view = endpoint(get=motd_get, put=motd_put, delete=motd_delete)
tasks_view = endpoint(get=tasks_list, query=PAGE_PARAMS)
task_view = endpoint(get=task_get, delete=task_delete)


async def not_found(request: HttpRequest) -> HttpResponse:
    return error_response("not-found", f"no API endpoint {request.path}")


async def openapi_view(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3.1 document, public (it lists what exists, not what anyone may do)."""
    if request.method not in ("GET", "HEAD"):
        return error_response("method-not-allowed", "use GET", headers={"Allow": "GET"})
    return JsonResponse(build_schema())
