from django.contrib import admin
from django.urls import include, path

from commands import httpauth, soap
from xmppd import hostmeta
from xmppsite import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("api/soap.wsdl", soap.wsdl_view, name="soap-wsdl"),  # XEP-0072 §3.4
    path("api/verify-request", httpauth.verify_request, name="verify-request"),  # XEP-0070
    path("auth/xmpp/", httpauth.xmpp_login, name="xmpp-login"),  # XEP-0070 §4 (Basic realm="xmpp")
    path("api/", include("commands.urls")),
    path(".well-known/host-meta", hostmeta.host_meta),  # XEP-0156
    path(".well-known/host-meta.json", hostmeta.host_meta_json),
]
