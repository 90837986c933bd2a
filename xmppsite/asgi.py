"""ASGI entry point: HTTP (Django), and the `xmpp` scope our TCP listener creates."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xmppsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from xmppd.consumers import XMPPStreamConsumer  # noqa: E402
from xmppd.transports.bosh import BoshConsumer  # noqa: E402
from xmppd.transports.websocket import XMPPWebSocketConsumer, origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # XEP-0124/XEP-0206 (BOSH) at /http-bind; everything else is the Django site.
        "http": URLRouter([
            path("http-bind", BoshConsumer.as_asgi()),
            path("http-bind/", BoshConsumer.as_asgi()),
            re_path(r"", django_asgi_app),
        ]),
        "xmpp": XMPPStreamConsumer.as_asgi(),
        # RFC 7395 (XMPP over WebSocket); any other WebSocket path is refused (HTTP 403).
        "websocket": origin_validator(URLRouter([
            path("xmpp-websocket", XMPPWebSocketConsumer.as_asgi()),
            re_path(r"", WebsocketDenier.as_asgi()),
        ])),
    }
)
