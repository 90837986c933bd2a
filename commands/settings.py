"""Reloadable operator settings: who administers what.

Read through these functions (never cached at import) so the `reload` command can replace
them at runtime without a restart.
"""

from __future__ import annotations

import re
from typing import Any

from xmppcore.jid import JID, InvalidJID

# Values set by the `reload` command; override Django settings until the next reload.
_overrides: dict[str, Any] = {}


def _setting(name: str) -> Any:
    from django.conf import settings

    return _overrides.get(name, getattr(settings, name, None))


def set_override(name: str, value: Any) -> None:
    _overrides[name] = value


def clear_overrides() -> None:
    _overrides.clear()


def admin_jids() -> frozenset[JID]:
    """`XMPP_ADMINS` as bare JIDs (invalid entries are ignored)."""
    out = set()
    for text in _setting("XMPP_ADMINS") or ():
        try:
            out.add(JID.parse(text).bare)
        except InvalidJID:
            continue
    return frozenset(out)


def domain_admins() -> dict[str, frozenset[JID]]:
    """`XMPP_DOMAIN_ADMINS` ("domain=jid1 jid2;domain2=jid3") parsed."""
    try:
        return parse_domain_admins(_setting("XMPP_DOMAIN_ADMINS") or "")
    except InvalidJID:
        return {}


def parse_domain_admins(text: str) -> dict[str, frozenset[JID]]:
    """`XMPP_DOMAIN_ADMINS`: "domain=jid1 jid2;domain2=jid3" → {domain: {bare JIDs}}."""
    out: dict[str, frozenset[JID]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        domain, _, jids = part.partition("=")
        parsed = frozenset(JID.parse(j).bare for j in re.split(r"[\s,]+", jids.strip()) if j)
        key = JID.parse(domain.strip()).domain
        out[key] = out.get(key, frozenset()) | parsed
    return out
