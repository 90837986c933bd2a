"""The REST face's plumbing: bearer-token authentication, JSON bodies, error bodies, pagination.

Errors are `{"error": {"code": ..., "message": ..., "fields": {...}}}` with the HTTP status
of their code (400, 401, 403, 404, 405, 409, 500).
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse

from commands import actions, live
from commands.registry import Actor, CommandError
from commands.validation import to_json
from xmppd.storage import db

STATUS = {"bad-request": 400, "unauthorized": 401, "forbidden": 403, "not-found": 404,
          "method-not-allowed": 405, "conflict": 409, "internal": 500}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class ApiError(Exception):
    """An HTTP-level failure (authentication, method, body, pagination)."""

    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


def error_response(code: str, message: str, fields: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = JsonResponse({"error": body}, status=STATUS.get(code, 500))
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def from_exception(exc: Exception) -> JsonResponse:
    if isinstance(exc, ApiError):
        return error_response(exc.code, exc.message, exc.fields, exc.headers)
    if isinstance(exc, CommandError):
        return error_response(exc.code, exc.message, exc.fields)
    raise exc


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(to_json(data), status=status, safe=False)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def no_content() -> HttpResponse:
    return HttpResponse(status=204)


# -- authentication ---------------------------------------------------------------------

def _unauthorized(message: str) -> ApiError:
    return ApiError("unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="xmppsite"'})


def actor_for_token(token: Any) -> Actor:
    """Server-wide tokens act as server administrators, domain tokens as that domain's admin."""
    domains = frozenset({token.domain}) if token.domain else frozenset()
    return Actor(jid=None, is_server_admin=not token.domain, admin_domains=domains, source="rest",
                 read_only=token.read_only, label=f"token:{token.id}")


async def authenticate(request: HttpRequest) -> Actor:
    """`Authorization: Bearer <token>` (RFC 6750 §2.1): an API token, or the local token an
    `xmppd` process sharing this data dir wrote for `xmppctl` (full rights)."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    if raw.startswith(live.LOCAL_TOKEN_PREFIX) and any(
            hmac.compare_digest(raw.encode(), local.encode()) for local in live.local_tokens()):
        return Actor(jid=None, is_server_admin=True, admin_domains=frozenset(), source="cli", label="cli")
    token = await db(actions.authenticate_token, raw)
    if token is None:
        raise _unauthorized("the token is unknown, revoked or expired")
    return actor_for_token(token)


# -- bodies, query strings, pagination ------------------------------------------------------

def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body)."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("bad-request", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError("bad-request", "the body must be a JSON object")
    return data


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    text = request.GET.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError("bad-request", f"{name} must be an integer", {name: "must be an integer"}) from None
    if not low <= value <= high:
        raise ApiError("bad-request", f"{name} must be between {low} and {high}",
                       {name: f"must be between {low} and {high}"})
    return value


def page_params(request: HttpRequest) -> tuple[int, int]:
    return (_int_param(request, "page", 1, 1, 10**6),
            _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE))


def paginate(request: HttpRequest, items: list[Any], key: str) -> dict[str, Any]:
    """One page of `items` under `key`, with page, page_size, total and the next page's URL."""
    page, size = page_params(request)
    start = (page - 1) * size
    chunk = items[start:start + size]
    nxt = None
    if start + size < len(items):
        query = request.GET.copy()
        query["page"] = str(page + 1)
        query["page_size"] = str(size)
        nxt = f"{request.path}?{urlencode(sorted(query.lists()), doseq=True)}"
    return {key: chunk, "page": page, "page_size": size, "total": len(items), "next": nxt}


PAGE_PARAMS = frozenset({"page", "page_size"})


def check_query(request: HttpRequest, allowed: frozenset[str]) -> None:
    """Refuse query parameters the endpoint does not document."""
    extra = sorted(set(request.GET) - allowed)
    if extra:
        raise ApiError("bad-request", f"unknown query parameters: {', '.join(extra)}",
                       {k: "unknown query parameter" for k in extra})


def query_args(request: HttpRequest, multi: frozenset[str] = frozenset(),
               skip: frozenset[str] = frozenset({"page", "page_size"})) -> dict[str, Any]:
    """Query-string arguments: lists for the names in `multi`, else the single value."""
    out: dict[str, Any] = {}
    for name, values in request.GET.lists():
        if name in skip:
            continue
        if any(v == "" for v in values):
            raise ApiError("bad-request", f"{name} may not be empty", {name: "may not be empty"})
        if name in multi:
            out[name] = values
        elif len(values) != 1:
            raise ApiError("bad-request", f"{name} is given more than once", {name: "is given more than once"})
        else:
            out[name] = values[0]
    return out
