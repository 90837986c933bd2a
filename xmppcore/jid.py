"""JIDs per RFC 7622: PRECIS profiles for localpart and resourcepart, IDNA for the domain.

`JID.parse` raises `InvalidJID` for anything RFC 7622 rejects; callers turn that into
`jid-malformed` (stanzas) or `improper-addressing` (stream headers).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import NamedTuple

from precis_i18n import get_profile

_LOCAL = get_profile("UsernameCaseMapped")
_RESOURCE = get_profile("OpaqueString")
# RFC 7622 §3.3.1: these may not appear in a localpart (even after PRECIS).
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")
_MAX_PART = 1023  # RFC 7622 §3.2-3.4: each part is 1 to 1023 octets.


class InvalidJID(ValueError):
    """The string is not a JID RFC 7622 accepts."""


class JID(NamedTuple):
    """An immutable, already-normalized JID. Compare and hash freely."""

    local: str | None
    domain: str
    resource: str | None

    @staticmethod
    def parse(text: str) -> "JID":
        return _parse_cached(text)

    @property
    def bare(self) -> "JID":
        return JID(self.local, self.domain, None) if self.resource is not None else self

    @property
    def host(self) -> "JID":
        return JID(None, self.domain, None)

    @property
    def is_bare(self) -> bool:
        return self.resource is None

    @property
    def is_domain(self) -> bool:
        return self.local is None and self.resource is None

    def with_resource(self, resource: str) -> "JID":
        return JID(self.local, self.domain, _prep_resource(resource))

    def __str__(self) -> str:
        text = self.domain
        if self.local is not None:
            text = f"{self.local}@{text}"
        if self.resource is not None:
            text = f"{text}/{self.resource}"
        return text


@functools.lru_cache(maxsize=65536)
def _parse_cached(text: str) -> JID:
    if not isinstance(text, str) or not text:
        raise InvalidJID("empty JID")
    # RFC 7622 §3.1: the resource is everything after the first '/', the localpart
    # everything before the first '@' that precedes that '/'.
    slash = text.find("/")
    rest, resource = (text, None) if slash < 0 else (text[:slash], text[slash + 1:])
    at = rest.find("@")
    local, domain = (None, rest) if at < 0 else (rest[:at], rest[at + 1:])
    return JID(
        _prep_local(local) if local is not None else None,
        _prep_domain(domain),
        _prep_resource(resource) if resource is not None else None,
    )


def _prep_local(local: str) -> str:
    if not local:
        raise InvalidJID("empty localpart")
    try:
        out = _LOCAL.enforce(local)
    except UnicodeError as exc:
        raise InvalidJID(f"localpart: {exc}") from None
    if _LOCAL_FORBIDDEN.intersection(out):
        raise InvalidJID("localpart contains a forbidden character")
    if len(out.encode()) > _MAX_PART:
        raise InvalidJID("localpart too long")
    return out


def _prep_resource(resource: str) -> str:
    if not resource:
        raise InvalidJID("empty resourcepart")
    try:
        out = _RESOURCE.enforce(resource)
    except UnicodeError as exc:
        raise InvalidJID(f"resourcepart: {exc}") from None
    if len(out.encode()) > _MAX_PART:
        raise InvalidJID("resourcepart too long")
    return out


def _prep_domain(domain: str) -> str:
    if domain.endswith("."):  # RFC 7622 §3.2: a trailing dot is stripped
        domain = domain[:-1]
    if not domain:
        raise InvalidJID("empty domainpart")
    if domain.startswith("[") and domain.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(domain[1:-1]).compressed}]"
        except ValueError:
            raise InvalidJID("bad IPv6 literal") from None
    if domain.isascii():
        out = domain.lower()
        _check_labels(out)
    else:
        try:
            ascii_form = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise InvalidJID("bad IDN domain") from None
        # The A-label form must itself be a valid domain: IDNA2003 nameprep maps some
        # characters (e.g. superscripts) onto ASCII that is not allowed in a hostname.
        _check_labels(ascii_form)
        try:
            out = ascii_form.encode("ascii").decode("idna")
        except UnicodeError:
            raise InvalidJID("bad IDN domain") from None
    if len(out.encode()) > _MAX_PART:
        raise InvalidJID("domainpart too long")
    return out


def _check_labels(domain: str) -> None:
    """LDH labels (plus '_', seen in the wild), 1-63 octets, no leading/trailing hyphen."""
    for label in domain.split("."):
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            raise InvalidJID("bad domain label")
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in label):
            raise InvalidJID("bad character in domain")


# XEP-0106 §4.2: characters escaped in a localpart, and their escapes.
_ESCAPES = {" ": r"\20", '"': r"\22", "&": r"\26", "'": r"\27", "/": r"\2f", ":": r"\3a",
            "<": r"\3c", ">": r"\3e", "@": r"\40", "\\": r"\5c"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def escape_local(text: str) -> str:
    """XEP-0106 §4.2 escaping of a would-be localpart."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i:i + 3].lower() in _UNESCAPES:
            out.append(r"\5c")
        elif ch in _ESCAPES and not (ch == "\\"):
            out.append(_ESCAPES[ch])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def unescape_local(text: str) -> str:
    """XEP-0106 §4.3 unescaping, for display."""
    out = []
    i = 0
    while i < len(text):
        seq = text[i:i + 3].lower()
        if text[i] == "\\" and seq in _UNESCAPES:
            out.append(_UNESCAPES[seq])
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
