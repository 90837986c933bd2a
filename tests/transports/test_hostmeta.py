"""XEP-0156 HTTP lookup: /.well-known/host-meta (XRD) and host-meta.json (JRD)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from django.test import Client
from lxml import etree

from tests.transports.conftest import WebServer

XRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
WS = "urn:xmpp:alt-connections:websocket"
BOSH = "urn:xmpp:alt-connections:xbosh"


@pytest.fixture
def ports(settings: Any) -> Any:
    settings.XMPP_HTTP_PORT = 5280
    settings.XMPP_HTTPS_PORT = 5281
    settings.ALLOWED_HOSTS = ["*"]
    return settings


def xrd_links(body: bytes) -> list[tuple[str, str]]:
    root = etree.fromstring(body)
    assert root.tag == f"{{{XRD}}}XRD"
    return [(link.get("rel"), link.get("href")) for link in root.iter(f"{{{XRD}}}Link")]


def test_xrd_advertises_websocket_and_bosh_from_the_request_host(ports: Any) -> None:
    response = Client().get("/.well-known/host-meta", HTTP_HOST="chat.example.org:5280")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xrd+xml; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert xrd_links(response.content) == [
        (WS, "wss://chat.example.org:5281/xmpp-websocket"),
        (BOSH, "https://chat.example.org:5281/http-bind"),
        (WS, "ws://chat.example.org:5280/xmpp-websocket"),
        (BOSH, "http://chat.example.org:5280/http-bind"),
    ]


def test_jrd_has_the_same_links(ports: Any) -> None:
    client = Client()
    xml = client.get("/.well-known/host-meta", HTTP_HOST="chat.example.org")
    response = client.get("/.well-known/host-meta.json", HTTP_HOST="chat.example.org")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    jrd = json.loads(response.content)
    assert [(link["rel"], link["href"]) for link in jrd["links"]] == xrd_links(xml.content)


def test_default_ports_are_left_out_and_ipv6_hosts_bracketed(ports: Any) -> None:
    ports.XMPP_HTTP_PORT, ports.XMPP_HTTPS_PORT = 80, 443
    links = xrd_links(Client().get("/.well-known/host-meta", HTTP_HOST="[::1]:8080").content)
    assert (WS, "wss://[::1]/xmpp-websocket") in links and (WS, "ws://[::1]/xmpp-websocket") in links


def test_https_port_zero_advertises_no_secure_endpoints(ports: Any) -> None:
    ports.XMPP_HTTPS_PORT = 0
    links = xrd_links(Client().get("/.well-known/host-meta", HTTP_HOST="localhost").content)
    assert links == [(WS, "ws://localhost:5280/xmpp-websocket"), (BOSH, "http://localhost:5280/http-bind")]


def test_preflight_and_methods(ports: Any) -> None:
    client = Client()
    preflight = client.options("/.well-known/host-meta.json", HTTP_HOST="localhost",
                               HTTP_ORIGIN="https://web.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight["Access-Control-Allow-Methods"]
    assert client.head("/.well-known/host-meta", HTTP_HOST="localhost").status_code == 200
    assert client.post("/.well-known/host-meta", HTTP_HOST="localhost").status_code == 405


def test_unknown_host_is_refused(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["localhost"]
    assert Client().get("/.well-known/host-meta", HTTP_HOST="attacker.example").status_code == 400


async def test_served_by_the_asgi_app(web: WebServer, settings: Any) -> None:
    settings.XMPP_HTTP_PORT = web.port

    def fetch() -> tuple[int, str, bytes]:
        with urllib.request.urlopen(web.url("/.well-known/host-meta"), timeout=5) as r:
            return r.status, r.headers["Access-Control-Allow-Origin"], r.read()

    status, cors, body = await asyncio.to_thread(fetch)
    assert status == 200 and cors == "*"
    assert (WS, f"ws://127.0.0.1:{web.port}/xmpp-websocket") in xrd_links(body)
