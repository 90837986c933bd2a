"""Static files as production serves them: collected by `manage.py xmppd`'s start-up step into
STATIC_ROOT with the manifest storage (hashed names, .gz and .br copies), then served by the
middleware with a year of caching for hashed names. Collected once into a temporary dir for this
module, so a stylesheet that breaks the manifest (a url() to a missing file) fails here."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Any, Iterator

import brotli
import pytest
from django.test import AsyncClient, Client, override_settings

from tests.web.test_home import Page
from xmppd.management.commands.xmppd import collect_static

PRODUCTION = {  # xmppsite/settings.py without XMPP_STATIC_FROM_APPS
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
HASHED = re.compile(r"^/static/(.+)\.[0-9a-f]{12}(\.\w+)$")
A_YEAR_OR_MORE = "max-age=315360000, public, immutable"


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, STORAGES=PRODUCTION, WHITENOISE_USE_FINDERS=False,
                           XMPP_STATIC_FROM_APPS=False):
        out = io.StringIO()
        assert collect_static(out) is True
        assert out.getvalue() == f"xmppd: static files collected into {root}\n"
        yield root


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def collected_file(root: Path, url: str) -> Path:
    """/static/admin/css/base.<hash>.css -> the hashed copy in STATIC_ROOT (url()s rewritten)."""
    assert HASHED.match(url), f"{url} has no content hash"
    return root / url.removeprefix("/static/")


def test_collecting_again_with_nothing_changed_does_nothing(collected: Path) -> None:
    manifest = collected / "staticfiles.json"
    before = manifest.stat().st_mtime_ns
    assert collect_static(io.StringIO()) is False
    assert manifest.stat().st_mtime_ns == before
    assert (collected / "admin/css/base.css.br").exists() and (collected / "admin/css/base.css.gz").exists()


@pytest.mark.django_db
def test_admin_login_links_hashed_stylesheets_cached_for_a_year(collected: Path) -> None:
    client = Client()
    page = client.get("/admin/login/")
    assert page.status_code == 200
    stylesheets = Page(page.content.decode()).stylesheets
    assert any(url.startswith("/static/admin/css/base.") for url in stylesheets), stylesheets
    for url in stylesheets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == A_YEAR_OR_MORE
        assert response["Content-Type"] == 'text/css; charset="utf-8"'
        assert body(response) == collected_file(collected, url).read_bytes()


def test_compressed_variants_when_accepted(collected: Path) -> None:
    from django.contrib.staticfiles.storage import staticfiles_storage

    url = staticfiles_storage.url("admin/css/base.css")
    source = collected_file(collected, url).read_bytes()
    client = Client()
    br = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br["Content-Encoding"] == "br" and br["Vary"] == "Accept-Encoding"
    assert brotli.decompress(body(br)) == source and int(br["Content-Length"]) < len(source) / 3
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gz["Content-Encoding"] == "gzip" and gzip.decompress(body(gz)) == source
    plain = client.get(url)
    assert "Content-Encoding" not in plain and body(plain) == source


def test_unhashed_names_are_cached_briefly(collected: Path) -> None:
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200 and response["Cache-Control"] == "max-age=60, public"


def test_front_page_stylesheet_is_collected_too(collected: Path) -> None:
    client = Client()
    [url] = Page(client.get("/").content.decode()).stylesheets
    assert HASHED.match(url) and url.startswith("/static/xmppsite/site.")
    response = client.get(url)
    assert response.status_code == 200 and response["Cache-Control"] == A_YEAR_OR_MORE
    content = body(response)
    assert content == (Path(__file__).parents[2] / "static/xmppsite/site.css").read_bytes()
    assert content == collected_file(collected, url).read_bytes()


async def test_async_path_serves_the_brotli_variant(collected: Path) -> None:
    from django.contrib.staticfiles.storage import staticfiles_storage

    url = staticfiles_storage.url("admin/css/base.css")
    response = await AsyncClient().get(url, headers={"Accept-Encoding": "br"})
    assert response.status_code == 200 and response["Content-Encoding"] == "br"
    assert response["Cache-Control"] == A_YEAR_OR_MORE
    assert brotli.decompress(response.content) == collected_file(collected, url).read_bytes()
