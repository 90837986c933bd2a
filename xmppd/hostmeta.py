"""XEP-0156: Discovering Alternative XMPP Connection Methods (HTTP lookup).

`/.well-known/host-meta` (XRD, RFC 6415) and `/.well-known/host-meta.json` (JRD) tell a
web client where this server's WebSocket (RFC 7395) and BOSH (XEP-0206) endpoints are.
The URLs are built from the host the request was made to and the configured HTTP and
HTTPS ports. Any page may read them (CORS `*`, XEP-0156 §3.2).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.views.decorators.http import require_http_methods
from lxml import etree

XRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
REL_WEBSOCKET = "urn:xmpp:alt-connections:websocket"
REL_XBOSH = "urn:xmpp:alt-connections:xbosh"
WEBSOCKET_PATH = "/xmpp-websocket"
BOSH_PATH = "/http-bind"
_DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def load(server: Any) -> Any:
    """Metadata for `xep_report` (the views are plain Django views in xmppsite/urls.py)."""
    return server.module("hostmeta", xep="XEP-0156", title="Discovering Alternative XMPP Connection Methods",
                         version="1.4.0", status="complete",
                         notes="HTTP lookup: /.well-known/host-meta and host-meta.json")


def _url(scheme: str, host: str, port: int, path: str) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    netloc = host if _DEFAULT_PORTS[scheme] == port else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


def links(request: HttpRequest) -> list[tuple[str, str]]:
    """(rel, href) pairs: secure endpoints first, then the plain ones (XEP-0156 §3)."""
    host, _ = split_domain_port(request.get_host())
    out: list[tuple[str, str]] = []
    if settings.XMPP_HTTPS_PORT:
        out.append((REL_WEBSOCKET, _url("wss", host, settings.XMPP_HTTPS_PORT, WEBSOCKET_PATH)))
        out.append((REL_XBOSH, _url("https", host, settings.XMPP_HTTPS_PORT, BOSH_PATH)))
    if settings.XMPP_HTTP_PORT:
        out.append((REL_WEBSOCKET, _url("ws", host, settings.XMPP_HTTP_PORT, WEBSOCKET_PATH)))
        out.append((REL_XBOSH, _url("http", host, settings.XMPP_HTTP_PORT, BOSH_PATH)))
    return out


def _cors(response: HttpResponse) -> HttpResponse:
    # XEP-0156 §3.2 / RFC 6415 §3: host-meta is public; web clients on any origin read it.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    return response


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def host_meta(request: HttpRequest) -> HttpResponse:
    """RFC 6415 §3.1: the XRD document."""
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    root = etree.Element(etree.QName(XRD, "XRD"), nsmap={None: XRD})
    for rel, href in links(request):
        etree.SubElement(root, etree.QName(XRD, "Link"), rel=rel, href=href)
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return _cors(HttpResponse(body, content_type="application/xrd+xml; charset=utf-8"))


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def host_meta_json(request: HttpRequest) -> HttpResponse:
    """RFC 6415 §3.2: the same links as JRD."""
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    body = json.dumps({"links": [{"rel": rel, "href": href} for rel, href in links(request)]}, indent=2)
    return _cors(HttpResponse(body, content_type="application/json"))
