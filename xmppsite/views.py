"""The site's front page: what this server is and how to connect to it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import render
from django.views.decorators.http import require_safe

from xmppd import hostmeta


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """`/`: the hosted domains, the c2s ports and the WebSocket and BOSH URLs as XEP-0156's
    host-meta gives them for the host the page was asked for, and a link to the admin."""
    host, _ = split_domain_port(request.get_host())
    endpoints = hostmeta.links(request)
    return render(request, "home.html", {
        "domains": settings.XMPP_DOMAINS,
        "host": host,
        "c2s_port": settings.XMPP_C2S_PORT,
        "tls_port": settings.XMPP_TLS_PORT,
        "websocket_urls": [href for rel, href in endpoints if rel == hostmeta.REL_WEBSOCKET],
        "bosh_urls": [href for rel, href in endpoints if rel == hostmeta.REL_XBOSH],
    })
