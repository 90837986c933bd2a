"""RFC 7622 JIDs and XEP-0106 escaping."""

from __future__ import annotations

import pytest

from xmppcore.jid import JID, InvalidJID, escape_local, unescape_local


@pytest.mark.parametrize("text,expected", [
    ("Alice@Example.COM/Res", "alice@example.com/Res"),
    ("example.com", "example.com"),
    ("example.com.", "example.com"),
    ("a@b/c/d@e", "a@b/c/d@e"),
    ("ÄLICE@münchen.de", "älice@münchen.de"),
    ("d\\27artagnan@example.com", "d\\27artagnan@example.com"),
    ("user@[::1]", "user@[::1]"),
])
def test_valid(text: str, expected: str) -> None:
    assert str(JID.parse(text)) == expected


@pytest.mark.parametrize("text", [
    "", "@example.com", "a@", "a@b/", "a b@example.com", "a@exa mple.com",
    "x" * 1024 + "@example.com", "a@Y]\u00b9!", "a@b\u00e4d]domain.org", "a@" + "b" * 64 + ".com", "a\"b@example.com", "a@b@c",
])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidJID):
        JID.parse(text)


def test_bare_and_resource() -> None:
    j = JID.parse("a@b/r")
    assert j.bare == JID("a", "b", None) and j.resource == "r" and not j.is_bare
    assert JID.parse("b").is_domain


def test_xep0106_round_trip() -> None:
    raw = "d'artagnan@gascon <x>/y"
    escaped = escape_local(raw)
    assert escaped == "d\\27artagnan\\40gascon\\20\\3cx\\3e\\2fy"
    assert unescape_local(escaped) == raw
    assert JID.parse(escaped + "@example.com").local == escaped
