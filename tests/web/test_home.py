"""`/`: the front page names the service and its domains, tells how to connect (the c2s ports and
the WebSocket and BOSH URLs XEP-0156 host-meta gives for the same host) and links the admin."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

VOID = {"meta", "link", "br", "img", "input", "hr"}


class Page(HTMLParser):
    """The bits of the page the tests look at: doctype, <html lang>, texts by id/class, links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.doctype = ""
        self.lang = ""
        self.links: dict[str, str] = {}  # id -> href
        self.stylesheets: list[str] = []
        self.texts: dict[str, list[str]] = {}  # id or class of the nearest such element -> texts
        self._keys: list[str | None] = []
        self.feed(html)

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        if tag == "a" and a.get("id"):
            self.links[a["id"] or ""] = a.get("href") or ""
        if tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a.get("href") or "")
        if tag not in VOID:
            self._keys.append(a.get("id") or a.get("class") or (self._keys[-1] if self._keys else None))

    def handle_data(self, data: str) -> None:
        if self._keys and self._keys[-1] and data.strip():
            self.texts.setdefault(self._keys[-1], []).append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._keys.pop()


@pytest.fixture
def site(settings: Any) -> Any:
    settings.XMPP_DOMAINS = ["localhost", "example.org"]
    settings.XMPP_C2S_PORT, settings.XMPP_TLS_PORT = 15222, 15223
    settings.XMPP_HTTP_PORT, settings.XMPP_HTTPS_PORT = 15280, 15281
    settings.ALLOWED_HOSTS = ["chat.example.org"]
    return settings


def test_front_page_names_the_domains_and_links_the_admin(site: Any) -> None:
    response = Client().get("/", HTTP_HOST="chat.example.org")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = Page(response.content.decode())
    assert page.doctype.lower() == "doctype html" and page.lang == "en"
    assert "<title>XMPP server for localhost, example.org</title>" in response.content.decode()
    assert page.texts["domains"] == ["localhost", "example.org"]
    assert page.links["admin"] == "/admin/"
    assert page.stylesheets == ["/static/xmppsite/site.css"]  # unhashed: the tests serve from the apps
    assert page.texts["c2s-port"] == ["15222"] and page.texts["tls-port"] == ["15223"]


def test_front_page_gives_the_urls_host_meta_gives(site: Any) -> None:
    client = Client()
    page = Page(client.get("/", HTTP_HOST="chat.example.org").content.decode())
    links = client.get("/.well-known/host-meta.json", HTTP_HOST="chat.example.org").json()["links"]
    by_rel = {rel: [link["href"] for link in links if link["rel"] == rel]
              for rel in ("urn:xmpp:alt-connections:websocket", "urn:xmpp:alt-connections:xbosh")}
    assert page.texts["websocket"] == by_rel["urn:xmpp:alt-connections:websocket"] == [
        "wss://chat.example.org:15281/xmpp-websocket", "ws://chat.example.org:15280/xmpp-websocket"]
    assert page.texts["bosh"] == by_rel["urn:xmpp:alt-connections:xbosh"] == [
        "https://chat.example.org:15281/http-bind", "http://chat.example.org:15280/http-bind"]


def test_front_page_without_https_and_direct_tls(site: Any) -> None:
    site.XMPP_HTTPS_PORT = site.XMPP_TLS_PORT = 0
    page = Page(Client().get("/", HTTP_HOST="chat.example.org").content.decode())
    assert page.texts["websocket"] == ["ws://chat.example.org:15280/xmpp-websocket"]
    assert page.texts["bosh"] == ["http://chat.example.org:15280/http-bind"]
    assert "tls-port" not in page.texts


@pytest.mark.django_db
def test_the_admin_link_leads_to_the_admin_login(site: Any) -> None:
    client = Client()
    admin = Page(client.get("/", HTTP_HOST="chat.example.org").content.decode()).links["admin"]
    response = client.get(admin, HTTP_HOST="chat.example.org")
    assert response.status_code == 302 and response["Location"] == "/admin/login/?next=/admin/"


def test_front_page_answers_head_and_refuses_post(site: Any) -> None:
    client = Client()
    head = client.head("/", HTTP_HOST="chat.example.org")
    assert head.status_code == 200 and head.content == b""
    assert client.post("/", HTTP_HOST="chat.example.org").status_code == 405
