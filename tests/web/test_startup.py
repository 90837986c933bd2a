"""`manage.py xmppd` collects static files at start-up when the collected ones are missing or
stale, and only then: the staleness rule on made-up files, and the real command serving the
collected, hashed, compressed admin stylesheets over Daphne."""

from __future__ import annotations

import io
import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Iterator

import brotli
import pytest

from tests.web.test_home import Page
from tests.support.process import manage, start_xmppd
from tests.xmppd.test_process import HOST, SCRUBBED, Xmppd
from xmppd.management.commands.xmppd import collect_static, is_static_stale, static_sources


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, str]:
    """Two source files, an hour old."""
    found = {}
    for name in ("app/a.css", "app/b.js"):
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
        os.utime(path, (path.stat().st_mtime - 3600,) * 2)
        found[name] = str(path)
    return found


def write_manifest(path: Path, names: list[str]) -> Path:
    path.write_text(json.dumps({"paths": {name: name for name in names}, "version": "1.1"}))
    return path


def test_fresh_when_the_manifest_names_every_source_and_is_newer(sources: dict[str, str], tmp_path: Path) -> None:
    assert not is_static_stale(write_manifest(tmp_path / "staticfiles.json", list(sources)), sources)


def test_stale_without_a_manifest_or_with_a_broken_one(sources: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "staticfiles.json"
    assert is_static_stale(manifest, sources)
    manifest.write_text("{not json")
    assert is_static_stale(manifest, sources)
    manifest.write_text('{"version": "1.1"}')
    assert is_static_stale(manifest, sources)


def test_stale_when_a_source_is_added_or_removed(sources: dict[str, str], tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "staticfiles.json", ["app/a.css"])
    assert is_static_stale(manifest, sources)
    manifest = write_manifest(manifest, [*sources, "app/gone.png"])
    assert is_static_stale(manifest, sources)


def test_stale_when_a_source_changed_after_collecting(sources: dict[str, str], tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "staticfiles.json", list(sources))
    Path(sources["app/b.js"]).write_text("changed")
    assert is_static_stale(manifest, sources)


def test_sources_are_the_apps_and_the_projects_static_files() -> None:
    found = static_sources()
    assert found["admin/css/base.css"].endswith("django/contrib/admin/static/admin/css/base.css")
    assert found["xmppsite/site.css"] == str(Path(__file__).parents[2] / "static/xmppsite/site.css")


def test_nothing_to_collect_when_serving_from_the_apps() -> None:
    assert collect_static(io.StringIO()) is False  # the tests' settings: XMPP_STATIC_FROM_APPS


@pytest.fixture
def production_xmppd(tmp_path: Path) -> Iterator[Xmppd]:
    """The real command in a fresh data dir, with the settings an operator gets."""
    env = {k: v for k, v in os.environ.items() if k not in (*SCRUBBED, "XMPP_STATIC_FROM_APPS")}
    env.update({"XMPP_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                "XMPP_BIND": HOST, "XMPP_CLUSTER_PREFIX": f"xmppsite-test-web-{os.getpid()}",
                "PYTHONUNBUFFERED": "1"})
    manage(env, "migrate", "--noinput")
    # Its first start collects (a few seconds of hashing and compressing, more on a busy machine).
    running = start_xmppd(env, tmp_path, timeout=60.0)
    try:
        yield Xmppd(running)
    finally:
        running.stop()


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_xmppd_collects_at_start_up_and_serves_hashed_compressed_files(production_xmppd: Xmppd,
                                                                        tmp_path: Path) -> None:
    assert f"xmppd: static files collected into {tmp_path / 'static'}" in production_xmppd.output()
    base = f"http://{HOST}:{production_xmppd.http}"
    status, _, html = get(f"{base}/admin/login/")
    assert status == 200
    stylesheets = Page(html.decode()).stylesheets
    assert any(re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", url) for url in stylesheets), stylesheets
    for url in stylesheets:
        status, headers, content = get(base + url, **{"Accept-Encoding": "br"})
        assert status == 200 and headers["Server"] == "daphne"
        assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
        assert headers["Content-Encoding"] == "br"
        assert brotli.decompress(content) == (tmp_path / "static" / url.removeprefix("/static/")).read_bytes()
