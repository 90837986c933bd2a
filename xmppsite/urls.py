from django.contrib import admin
from django.urls import include, path

from xmppd import hostmeta

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("commands.urls")),
    path(".well-known/host-meta", hostmeta.host_meta),  # XEP-0156
    path(".well-known/host-meta.json", hostmeta.host_meta_json),
]
