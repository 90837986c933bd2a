"""ASGI entry point: HTTP (Django), and the `xmpp` scope our TCP listener creates."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xmppsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from xmppd.consumers import XMPPStreamConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "xmpp": XMPPStreamConsumer.as_asgi(),
    }
)
