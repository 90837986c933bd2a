"""Django-side hardening: staff password validators, Secure/HttpOnly cookies over HTTPS, the
secret key file created owner-only, and /admin/ + /api/ only on XMPP_ADMIN_HTTP_BIND."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from xmppd.management.commands.xmppd import admin_endpoint


def test_staff_passwords_are_validated() -> None:
    for weak in ("short", "password123", "1234567890123"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("correct horse battery staple")


@pytest.mark.django_db
@pytest.mark.parametrize("secure", [True, False])
def test_cookies_are_secure_over_https(secure: bool) -> None:
    response = Client().get("/admin/login/", secure=secure)
    assert response.status_code == 200
    cookie = response.cookies["csrftoken"]
    assert bool(cookie["secure"]) is secure and bool(cookie["httponly"]) is secure


def test_secret_key_file_is_never_readable_by_others(tmp_path: Path, monkeypatch: Any) -> None:
    import xmppsite.settings as project

    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.setattr(project, "XMPP_DATA_DIR", tmp_path)

    def crash(*args: Any, **kwargs: Any) -> None:  # a crash right after the key is written
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "chmod", crash)
    old = os.umask(0)
    try:
        key = project._secret_key()
    except KeyboardInterrupt:
        key = ""
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert key and project._secret_key() == key  # read back, not made again


class Port:
    """Requests that arrived on one local port (Daphne's ASGI 'server' → SERVER_PORT)."""

    def __init__(self, port: str) -> None:
        self.port = port

    def get(self, path: str) -> Any:
        return Client().get(path, SERVER_PORT=self.port)


@pytest.mark.django_db
def test_admin_and_api_only_on_the_admin_bind(settings: Any) -> None:
    settings.XMPP_ADMIN_HTTP_BIND = "127.0.0.1:8089"
    public, admin = Port("8080"), Port("8089")
    for path in ("/admin/login/", "/api/users", "/api/openapi.json"):
        assert public.get(path).status_code == 404, path
    assert admin.get("/admin/login/").status_code == 200
    assert admin.get("/api/users").status_code == 401  # there, the API asks for its token
    assert public.get("/").status_code == 200
    settings.XMPP_ADMIN_HTTP_BIND = ""
    assert public.get("/admin/login/").status_code == 200


def test_admin_endpoint() -> None:
    assert admin_endpoint("127.0.0.1:8089") == "tcp:port=8089:interface=127.0.0.1"
    assert admin_endpoint("[::1]:9000") == "tcp:port=9000:interface=\\:\\:1"
