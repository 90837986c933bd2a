"""The OpenAPI 3.1 document of the REST API, generated from the registry (one operation per
command, plus the resource-style endpoints), served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from commands import registry
from commands.validation import to_json
from commands.registry import Arg, Command

ERROR_STATUSES = {"400": "Invalid arguments (see error.fields)", "401": "Missing or invalid token",
                  "403": "The token may not do this", "404": "No such command, account, session or task",
                  "409": "Conflicts with the current state (e.g. the account exists)"}
PAGED = frozenset({"list", "table"})


def arg_schema(arg: Arg) -> dict[str, Any]:
    """JSON Schema of one argument (XEP-0122 datatypes and ranges, in JSON terms)."""
    t = arg.type
    schema: dict[str, Any]
    if t == "int":
        schema = {"type": "integer"}
        if arg.min is not None:
            schema["minimum"] = arg.min
        if arg.max is not None:
            schema["maximum"] = arg.max
    elif t == "bool":
        schema = {"type": "boolean"}
    elif t in ("jids", "list-multi"):
        item: dict[str, Any] = {"type": "string", "minLength": 1}
        if arg.choices:
            item = {"type": "string", "enum": list(arg.choices)}
        schema = {"type": "array", "items": item, "uniqueItems": True}
        if arg.min is not None:
            schema["minItems"] = arg.min
        if arg.max is not None:
            schema["maxItems"] = arg.max
    elif t == "list-single":
        schema = {"type": "string", "enum": list(arg.choices)}
    else:
        schema = {"type": "string"}
        if t == "datetime":
            schema["format"] = "date-time"
        elif t == "password":
            schema["format"] = "password"
        elif t in ("jid", "domain"):
            schema["format"] = t
        low = arg.min if t in ("string", "text", "password") else None
        if t in ("jid", "domain") or arg.required:
            low = max(low or 0, 1)
        if low:
            schema["minLength"] = low
        if arg.max is not None and t in ("string", "text", "password"):
            schema["maxLength"] = arg.max
        if arg.regex:
            schema["pattern"] = f"^(?:{arg.regex})$"
        if arg.choices:
            schema["enum"] = list(arg.choices)
    if arg.default is not None:
        schema["default"] = to_json(arg.default)
    desc = " ".join(p for p in (arg.title, arg.help) if p)
    if desc:
        schema["description"] = desc
    return schema


def result_schema(cmd: Command) -> dict[str, Any]:
    return {
        "none": {"type": "null"},
        "string": {"type": "string"},
        "int": {"type": "integer"},
        "list": {"type": "array", "items": {"type": "string"}},
        "table": {"type": "array", "items": {"type": "object"}},
        "dict": {"type": "object"},
    }[cmd.result]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: str) -> dict[str, Any]:
    wanted = codes or tuple(ERROR_STATUSES)
    return {code: {"$ref": f"#/components/responses/E{code}"} for code in wanted}


def _page_params() -> list[dict[str, Any]]:
    return [
        {"name": "page", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1}},
        {"name": "page_size", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
    ]


def _paged(key: str, items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key, "page", "page_size", "total", "next"],
            "properties": {key: items, "page": {"type": "integer"}, "page_size": {"type": "integer"},
                           "total": {"type": "integer"}, "next": {"type": ["string", "null"]}}}


def _ok(cmd: Command) -> dict[str, Any]:
    if cmd.long_running:
        return {"202": {"$ref": "#/components/responses/Accepted"}}
    body = _paged("result", result_schema(cmd)) if cmd.result in PAGED else {
        "type": "object", "required": ["result"], "properties": {"result": result_schema(cmd)}}
    return {"200": {"description": cmd.result, "content": _json(body)}}


def _body(cmd: Command, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    args = [a for a in cmd.args if a.name not in skip]
    return {"required": any(a.required for a in args), "content": _json({
        "type": "object", "additionalProperties": False,
        "properties": {a.name: arg_schema(a) for a in args},
        "required": [a.name for a in args if a.required]})}


def command_operations(cmd: Command) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    paging = _page_params() if cmd.result in PAGED and not cmd.long_running else []
    base = {"tags": [cmd.category], "description": f"{cmd.description} Permission: {cmd.permission}.",
            "summary": cmd.description.split(". ")[0].rstrip(".")}
    ops["post"] = {**base, "operationId": f"command_{cmd.name}", "parameters": paging,
                   "responses": {**_ok(cmd), **_errors()}}
    if cmd.args:
        ops["post"]["requestBody"] = _body(cmd)
    if cmd.read_only:
        params = [{"name": a.name, "in": "query", "required": a.required, "schema": arg_schema(a),
                   **({"style": "form", "explode": True} if a.type in ("jids", "list-multi") else {})}
                  for a in cmd.args]
        ops["get"] = {**base, "operationId": f"command_{cmd.name}_get", "parameters": params + paging,
                      "responses": {**_ok(cmd), **_errors()}}
    return ops


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


def _op(op_id: str, summary: str, responses: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, tag: str = "resources") -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag],
                          "parameters": params or [], "responses": {**responses, **_errors()}}
    if body is not None:
        op["requestBody"] = body
    return op


def _items(cmd_name: str) -> dict[str, Any]:
    return _json(_paged("items", result_schema(registry.get(cmd_name))))


def _no_content() -> dict[str, Any]:
    return {"204": {"description": "Done"}}


def resource_paths() -> dict[str, Any]:
    get = registry.get
    jid = _path_param("jid", "A bare JID (user@domain)")
    domain_q = {"name": "domain", "in": "query", "required": False,
                "schema": arg_schema(get("list_users").arg("domain"))}
    announce = _body(get("announce_online"))
    announce["content"]["application/json"]["schema"]["properties"]["audience"] = {
        "type": "string", "enum": ["online", "all"], "default": "online"}
    obj = {"type": "object"}
    return {
        "/api/users": {
            "get": _op("users_list", "List accounts", {"200": {"description": "Accounts", "content": _items("list_users")}},
                       params=[domain_q, *_page_params()]),
            "post": _op("users_create", "Create an account", {"201": {
                "description": "Created", "headers": {"Location": {"schema": {"type": "string"}}},
                "content": _json({"type": "object", "required": ["jid"], "properties": {"jid": {"type": "string"}}})}},
                body=_body(get("register"))),
        },
        "/api/users/{jid}": {
            "get": _op("user_get", "An account", {"200": {"description": "Account", "content": _json(obj)}}, params=[jid]),
            "delete": _op("user_delete", "Delete an account", _no_content(), params=[jid]),
        },
        "/api/users/{jid}/password": {
            m: _op(f"user_password_{m}", "Set the password", _no_content(), params=[jid],
                   body=_body(get("change_password"), skip=("jid",))) for m in ("post", "put")
        },
        "/api/users/{jid}/disable": {"post": _op("user_disable", "Disable an account", _no_content(), params=[jid])},
        "/api/users/{jid}/enable": {"post": _op("user_enable", "Enable an account", _no_content(), params=[jid])},
        "/api/users/{jid}/sessions": {"get": _op("user_sessions", "An account's online sessions", {
            "200": {"description": "Sessions", "content": _items("user_sessions")}}, params=[jid, *_page_params()])},
        "/api/users/{jid}/export": {"post": _op("user_export", "Export an account's data (a task)", {
            "202": {"$ref": "#/components/responses/Accepted"}}, params=[jid])},
        "/api/users/{jid}/roster": {
            "get": _op("roster_list", "An account's roster", {"200": {"description": "Roster", "content": _items("roster_get")}},
                       params=[jid, *_page_params()]),
            "post": _op("roster_add", "Add or change a roster item", _no_content(), params=[jid],
                        body={"required": True, "content": _json({
                            "type": "object", "additionalProperties": False, "required": ["contact"],
                            "properties": {"contact": arg_schema(get("roster_add").arg("contact")),
                                           "name": arg_schema(get("roster_add").arg("name")),
                                           "groups": {"type": "array", "items": {"type": "string", "minLength": 1,
                                                                                 "pattern": "^[^\\r\\n]+$"}}}})}),
        },
        "/api/users/{jid}/roster/{contact}": {"delete": _op(
            "roster_delete", "Remove a roster item", _no_content(), params=[jid, _path_param("contact", "Contact JID")])},
        "/api/sessions": {"get": _op("sessions_list", "Online sessions", {
            "200": {"description": "Sessions", "content": _items("list_sessions")}}, params=[domain_q, *_page_params()])},
        "/api/sessions/{jid}": {"delete": _op("session_delete", "End a session (full JID) or all of an account's",
                                              _no_content(), params=[_path_param("jid", "user@domain/resource")])},
        "/api/stats": {"get": _op("stats", "Server statistics", {"200": {"description": "Stats", "content": _json(obj)}})},
        "/api/messages": {"post": _op("messages_send", "Send a message", {
            "200": {"description": "Sent", "content": _json(obj)}}, body=_body(get("send_message")))},
        "/api/announcements": {"post": _op("announce", "Announce to online users (or all users: a task)", {
            "200": {"description": "How many sessions got it", "content": _json(obj)},
            "202": {"$ref": "#/components/responses/Accepted"}}, body=announce)},
        "/api/motd/{domain}": {
            "get": _op("motd_get", "The message of the day", {"200": {"description": "MOTD", "content": _json(obj)}},
                       params=[_path_param("domain", "Domain")]),
            "put": _op("motd_put", "Set the message of the day", _no_content(), params=[_path_param("domain", "Domain")],
                       body=_body(get("set_motd"), skip=("domain",))),
            "delete": _op("motd_delete", "Delete the message of the day", _no_content(),
                          params=[_path_param("domain", "Domain")]),
        },
        "/api/tasks": {"get": _op("tasks_list", "Runs of long commands", {
            "200": {"description": "Runs", "content": _items("list_tasks")}}, params=_page_params(), tag="tasks")},
        "/api/tasks/{task_id}": {
            "get": _op("task_get", "A run: status, progress, result", {
                "200": {"description": "Run", "content": _json({"$ref": "#/components/schemas/Task"})}},
                params=[_path_param("task_id", "Task id")], tag="tasks"),
            "delete": _op("task_cancel", "Cancel a run", {
                "200": {"description": "Run", "content": _json({"$ref": "#/components/schemas/Task"})}},
                params=[_path_param("task_id", "Task id")], tag="tasks"),
        },
    }


def components() -> dict[str, Any]:
    error = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": [
            "bad-request", "unauthorized", "forbidden", "not-found", "method-not-allowed", "conflict", "internal"]},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
    task = {"type": "object", "required": ["id", "command", "status", "progress"], "properties": {
        "id": {"type": "string"}, "command": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
        "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"},
                                                      "note": {"type": "string"}}},
        "result": {}, "error": {"type": ["object", "null"]}, "cancel_requested": {"type": "boolean"}}}
    responses: dict[str, Any] = {
        f"E{code}": {"description": text, "content": _json({"$ref": "#/components/schemas/Error"})}
        for code, text in ERROR_STATUSES.items()}
    responses["E401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["Accepted"] = {
        "description": "Queued as a task: poll the Location",
        "headers": {"Location": {"schema": {"type": "string"}}},
        "content": _json({"type": "object", "required": ["task_id", "status_url"],
                          "properties": {"task_id": {"type": "string"}, "status_url": {"type": "string"}}})}
    return {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": error, "Task": task}, "responses": responses}


def build_schema() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/commands": {"get": _op("commands_list", "Every command with its arguments", {
            "200": {"description": "Commands", "content": _json({"type": "object"})}}, tag="commands")},
    }
    for cmd in registry.all_commands():
        paths[f"/api/commands/{cmd.name}"] = command_operations(cmd)
    paths.update(resource_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "xmppsite management API", "version": "1.0.0",
                 "description": "Operator commands of the XMPP server (the same registry as ad-hoc "
                                "commands, Jabber-RPC, SOAP and `manage.py xmppctl`)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": components(),
    }
