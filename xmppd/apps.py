from django.apps import AppConfig


class XmppdConfig(AppConfig):
    name = "xmppd"
    verbose_name = "XMPP server runtime"
