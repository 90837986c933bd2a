"""XEP-0115: Entity Capabilities.

The server's own capabilities (§6.3): a `<c xmlns='http://jabber.org/protocol/caps'
hash='sha-1' node=... ver=.../>` in the stream features once the client has authenticated;
`ver` is the §5 hash of the domain's disco#info answer (identities, features, XEP-0128
forms) as `plugins/disco.py` gives it, computed again whenever the domain's identities or
features change; disco#info of the node `NODE#ver` answers the same (§6.2).

Clients' capabilities (§6.2, §5.4): the `<c/>` of each bound resource's broadcast presence
names a `ver`. A ver already verified is looked up in memory (no database query and no
await on the presence path). An unknown one is resolved off the path: first the shared
cache (the `caps` Django cache alias: Redis when REDIS_URL is set, else files in the data
dir; verified entries are content-addressed, so a restart or another node never asks
again), else ONE disco#info query to the resource (`router.send_iq`) while every other
resource announcing the same ver waits for that answer. The answer is checked (§5.4 step
3) and hashed again; only a match is cached globally. A mismatch is not trusted: the
resource gets no features from it and the next resource announcing that ver is asked
itself (§5.4 step 3.7). A hash this module does not trust globally (md5, an unknown one)
and the legacy format without 'hash' (§8.4) get the answer for that resource alone,
never cached.

State per session (the contract with PEP):
  session.data["caps.features"]  frozenset of the resource's features (local sessions)
  session.data["caps.ver"]       "hash ver" of a verified ver, replicated to the cluster
                                 (JSON); another node resolves it with `caps/features`
Hooks fired:
  caps/updated (session)         the resource's features were learned or changed
Hooks handled:
  caps/features (session) -> frozenset | None   features of a session, local or remote
  pre-presence/broadcast (OBSERVE)              reads the <c/> of a client's presence
  server/started, auth/success                  the server's ver, computed again when it changed
  disco/info/host/node                          the server's `NODE#ver` node
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, make
from xmppd.origin import CLIENT
from xmppd.priorities import OBSERVE

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import BaseSession

log = logging.getLogger(__name__)

NODE = "https://xmppsite.invalid/caps"  # §4: the URI identifying this software
FEATURES = "caps.features"
VER = "caps.ver"
_KEY = "caps.key"  # (hash, ver, node) of the <c/> this session announced last
# §5.1 / IANA Hash Function Textual Names; md2 and md5 are registered but weak enough to
# poison a global cache: their answers are kept for the one resource (§5.4 step 2).
HASHES: dict[str, Callable[[bytes], Any]] = {
    "sha-1": hashlib.sha1, "sha-224": hashlib.sha224, "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384, "sha-512": hashlib.sha512,
}
MAX_VER = 256  # longer 'ver' values are ignored (a base64 SHA-512 is 88 characters)
MAX_CACHED = 10000  # verified vers kept in memory, the least recently used dropped first
MAX_FEATURES = 1000  # features of one answer kept at most
DISCO_TIMEOUT = 10.0
CACHE_TTL = 90 * 24 * 3600  # seconds a verified ver stays in the shared cache
_FORM_TYPE = "FORM_TYPE"


class IllFormed(ValueError):
    """§5.4 step 3: the disco#info answer cannot be used to validate a ver."""


@dataclass(frozen=True)
class DiscoInfo:
    """What §5.1 hashes: identities (category, type, lang, name), features and forms
    (FORM_TYPE, ((var, (values...)), ...))."""

    identities: tuple[tuple[str, str, str, str], ...]
    features: frozenset[str]
    forms: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]

    def to_json(self) -> dict[str, Any]:
        return {"i": [list(i) for i in self.identities], "f": sorted(self.features),
                "x": [[t, [[v, list(vals)] for v, vals in fields]] for t, fields in self.forms]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DiscoInfo":
        return cls(tuple(tuple(i) for i in data["i"]), frozenset(data["f"]),
                   tuple((t, tuple((v, tuple(vals)) for v, vals in fields)) for t, fields in data["x"]))


# -- §5: the verification string (pure) ------------------------------------------------------

def _form(x: etree._Element) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]] | None:
    """One XEP-0128 form as (FORM_TYPE, fields); None when §5.4 says to ignore it."""
    form_type: str | None = None
    fields: list[tuple[str, tuple[str, ...]]] = []
    for field in x.iter(ns.q(ns.DATA_FORMS, "field")):
        var = field.get("var")
        values = tuple(v.text or "" for v in field.findall(ns.q(ns.DATA_FORMS, "value")))
        if var == _FORM_TYPE:
            if len(set(values)) > 1:
                raise IllFormed("a FORM_TYPE with several values")
            if field.get("type") != "hidden":
                return None  # §5.4 step 3.6: ignore the form, go on
            form_type = values[0] if values else ""
        elif var is not None:
            fields.append((var, tuple(sorted(values))))
    if form_type is None:
        return None  # XEP-0128 §2: a form without FORM_TYPE is no extension
    return form_type, tuple(sorted(fields))


def parse_info(query: etree._Element) -> DiscoInfo:
    """A disco#info <query/> read for §5.1; raises IllFormed on §5.4 step 3's cases."""
    identities = []
    for ident in query.findall(ns.q(ns.DISCO_INFO, "identity")):
        identities.append((ident.get("category", ""), ident.get("type", ""),
                           ident.get(ns.q(ns.XML, "lang"), ""), ident.get("name", "")))
    features = [f.get("var", "") for f in query.findall(ns.q(ns.DISCO_INFO, "feature"))]
    forms = [f for x in query.findall(ns.q(ns.DATA_FORMS, "x")) if (f := _form(x)) is not None]
    if len(set(identities)) != len(identities):
        raise IllFormed("the same identity twice")  # §5.4 step 3.3
    if len(set(features)) != len(features):
        raise IllFormed("the same feature twice")  # §5.4 step 3.4
    if len({t for t, _ in forms}) != len(forms):
        raise IllFormed("two forms with the same FORM_TYPE")  # §5.4 step 3.5
    return DiscoInfo(tuple(sorted(identities)), frozenset(features), tuple(sorted(forms)))


def verification_string(info: DiscoInfo) -> str:
    """§5.1 steps 1-8 (Python sorts str by code point: the i;octet order of UTF-8)."""
    parts = ["/".join(ident) + "<" for ident in info.identities]
    parts += [f + "<" for f in sorted(info.features)]
    for form_type, fields in info.forms:
        parts.append(form_type + "<")
        for var, values in fields:
            parts.append(var + "<")
            parts += [v + "<" for v in values]
    return "".join(parts)


def ver_of(info: DiscoInfo, algorithm: str = "sha-1") -> str:
    """§5.1 steps 9-10: base64 of the hash of the UTF-8 verification string."""
    digest = HASHES[algorithm](verification_string(info).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


# -- the server's own caps (§6.3) --------------------------------------------------------------

class ServerCaps:
    """The domain's ver, from the answer plugins/disco.py gives to a disco#info query."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self._done: dict[str, tuple[Any, str, etree._Element]] = {}  # domain -> (snapshot, ver, query)

    def _snapshot(self) -> tuple[Any, ...]:
        s = self.server
        return (tuple(s.features), tuple(s.identities), s.hooks.handlers("disco/info/host"))

    def is_current(self, domain: str) -> bool:
        done = self._done.get(domain)
        return done is not None and done[0] == self._snapshot()

    async def refresh(self, domain: str) -> None:
        """Ask the disco module the domain's disco#info, hash it (§5.1)."""
        snapshot = self._snapshot()
        host = self.server.hosts.get(domain)
        if host is None:
            return
        to = JID(None, domain, None)
        request = make("iq", type_="get", id_="caps", to=to, from_=to)
        etree.SubElement(request, ns.q(ns.DISCO_INFO, "query"), nsmap={None: ns.DISCO_INFO})
        answer = await host.hooks.fire(f"iq-get/host/{ns.DISCO_INFO}:query",
                                       Stanza(request, "iq", to, to, host.origin))
        if not isinstance(answer, etree._Element) or not len(answer):
            return
        query = answer[0]
        self._done[domain] = (snapshot, ver_of(parse_info(query), "sha-1"), query)

    def ver(self, domain: str) -> str | None:
        done = self._done.get(domain)
        return done[1] if done is not None else None

    async def on_start(self, _server: Any) -> None:
        """server/started: every user domain's ver, before the first login needs it."""
        for host in self.server.hosts.users():
            await self.refresh(host.name)

    async def on_auth(self, _username: str, domain: str, *_: Any) -> None:
        """auth/success: the features the restarted stream gets carry a current ver."""
        if not self.is_current(domain):
            await self.refresh(domain)

    def stream_feature(self, driver: Any) -> etree._Element | None:
        """§6.3: <c/> among the stream features, once authenticated."""
        if not getattr(driver, "is_authenticated", False) or driver.machine.jid is None:
            return None
        ver = self.ver(driver.machine.jid.domain)
        if ver is None:
            return None
        return etree.Element(ns.q(ns.CAPS, "c"), nsmap={None: ns.CAPS},
                             hash="sha-1", node=NODE, ver=ver)

    async def node_info(self, stanza: Stanza, query: etree._Element) -> bool | None:
        """§6.2: disco#info of `NODE#ver` is the domain's disco#info."""
        domain = stanza.to.domain if stanza.to is not None else ""
        if not self.is_current(domain):
            await self.refresh(domain)
        done = self._done.get(domain)
        if done is None or query.get("node") != f"{NODE}#{done[1]}":
            return None
        for child in done[2]:
            query.append(_copy(child))
        return True


def _copy(el: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(el))


# -- clients' caps (§6.2, §5.4) ----------------------------------------------------------------

class ClientCaps:
    """ver -> features learned from clients, shared by every user of the server."""

    def __init__(self, server: "Server", cache: Any = None) -> None:
        self.server = server
        self.known: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
        self.pending: dict[tuple[str, str], asyncio.Future[frozenset[str] | None]] = {}
        self.cache = cache  # a Django cache (None: memory only)
        self.queries = 0  # disco#info queries sent (statistics, tests)

    # -- the presence path: memory only ----------------------------------------------
    def presence(self, stanza: Stanza) -> None:
        """pre-presence/broadcast: read the <c/> of an available presence (§6.2)."""
        session = stanza.origin
        if session is None or session.kind != CLIENT or stanza.type is not None:
            return None
        c = stanza.el.find(ns.q(ns.CAPS, "c"))
        if c is None:
            return None  # §8.4 (caps optimization): no annotation is no change
        algorithm, ver, node = c.get("hash"), c.get("ver") or "", c.get("node") or ""
        key = (algorithm or "", ver, node)
        if not ver or len(ver) > MAX_VER or session.data.get(_KEY) == key:
            return None
        session.data[_KEY] = key
        features = self.known.get((algorithm, ver)) if algorithm in HASHES else None
        if features is not None:
            self.known.move_to_end((algorithm, ver))
            self._set(session, features, f"{algorithm} {ver}")
        else:
            asyncio.get_running_loop().create_task(self._learn(session, key))
        return None

    # -- off the path -------------------------------------------------------------------
    async def _learn(self, session: "BaseSession", key: tuple[str, str, str]) -> None:
        algorithm, ver, node = key
        try:
            if algorithm in HASHES:
                features = await self._verified(session, algorithm, ver, node)
                label = f"{algorithm} {ver}"
            else:  # §5.4 step 2 / legacy format: this resource's answer, for it alone
                features = (await self._ask(session, node, ver)).features
                label = None
        except (StanzaError, IllFormed) as err:
            log.info("caps of %s not learned: %s", session.jid, err)
            return
        if features is not None and session.data.get(_KEY) == key and not session.is_closed:
            self._set(session, features, label)

    async def _verified(self, session: "BaseSession", algorithm: str, ver: str,
                        node: str) -> frozenset[str] | None:
        """The features of a verified ver: memory, the shared cache, or one query."""
        while True:
            known = self.known.get((algorithm, ver))
            if known is not None:
                return known
            waiting = self.pending.get((algorithm, ver))
            if waiting is None:
                return await self._resolve(session, algorithm, ver, node)
            features = await asyncio.shield(waiting)
            if features is not None:
                return features
            # §5.4 step 3.7: that answer did not match; ask this resource itself.
            if session.is_closed:
                return None

    async def _resolve(self, session: "BaseSession", algorithm: str, ver: str,
                       node: str) -> frozenset[str] | None:
        key = (algorithm, ver)
        future: asyncio.Future[frozenset[str] | None] = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        features: frozenset[str] | None = None
        try:
            info = await self._from_cache(algorithm, ver)
            if info is None:
                info = await self._ask(session, node, ver)
                if ver_of(info, algorithm) != ver:
                    log.warning("caps of %s: ver %s does not match its disco#info", session.jid, ver)
                    return None  # §5.4 step 3.8: not cached, not trusted
                await self._to_cache(algorithm, ver, info)
            features = self._remember(key, info.features)
            return features
        except (StanzaError, IllFormed):
            return None
        finally:
            del self.pending[key]
            future.set_result(features)

    async def _ask(self, session: "BaseSession", node: str, ver: str) -> DiscoInfo:
        """§6.2: disco#info of `node#ver` at the resource's full JID."""
        self.queries += 1
        iq = make("iq", type_="get", to=session.jid, from_=JID(None, session.jid.domain, None))
        query = etree.SubElement(iq, ns.q(ns.DISCO_INFO, "query"), nsmap={None: ns.DISCO_INFO})
        if node:
            query.set("node", f"{node}#{ver}")
        answer = await self.server.router.send_iq(iq, DISCO_TIMEOUT)
        found = answer.find(ns.q(ns.DISCO_INFO, "query"))
        if found is None:
            raise IllFormed("a disco#info result without <query/>")
        return parse_info(found)

    def _remember(self, key: tuple[str, str], features: frozenset[str]) -> frozenset[str]:
        features = frozenset(sorted(features)[:MAX_FEATURES])
        self.known[key] = features
        self.known.move_to_end(key)
        while len(self.known) > MAX_CACHED:
            self.known.popitem(last=False)
        return features

    async def _from_cache(self, algorithm: str, ver: str) -> DiscoInfo | None:
        if self.cache is None:
            return None
        try:
            data = await self.cache.aget(_cache_key(algorithm, ver))
            info = DiscoInfo.from_json(data) if data is not None else None
        except Exception:  # an unreachable or corrupt cache: ask the client instead
            log.exception("caps cache read failed")
            return None
        # Read back from a store others can write: trusted only when it still hashes to ver.
        return info if info is not None and ver_of(info, algorithm) == ver else None

    async def _to_cache(self, algorithm: str, ver: str, info: DiscoInfo) -> None:
        if self.cache is None:
            return
        try:
            await self.cache.aset(_cache_key(algorithm, ver), info.to_json(), CACHE_TTL)
        except Exception:
            log.exception("caps cache write failed")

    def _set(self, session: "BaseSession", features: frozenset[str], label: str | None) -> None:
        """The contract with PEP: `caps.features`, then `caps/updated`."""
        sessions = self.server.sessions
        if session.data.get(FEATURES) == features and session.data.get(VER) == label:
            return
        sessions.set_state(session, FEATURES, features)
        sessions.set_state(session, VER, label)
        asyncio.get_running_loop().create_task(self.server.hooks.fire_all("caps/updated", session))

    def features_of(self, session: "BaseSession") -> frozenset[str] | None:
        """caps/features: a local session's set, or a remote one's from its replicated ver."""
        features = session.data.get(FEATURES)
        if features is not None:
            return frozenset(features)
        label = session.data.get(VER)
        if not label:
            return None
        algorithm, _, ver = label.partition(" ")
        return self.known.get((algorithm, ver))


def _cache_key(algorithm: str, ver: str) -> str:
    # Memcached-safe: no spaces or control characters (base64 has none; '/' and '+' are fine).
    return f"xmpp-caps:{algorithm}:{ver}"


def shared_cache() -> Any:
    """The `caps` Django cache alias when configured (xmppsite/settings.py), else None."""
    from django.conf import settings
    from django.core.cache import caches

    return caches["caps"] if "caps" in getattr(settings, "CACHES", {}) else None


def load(server: "Server") -> "Module":
    module = server.module(
        "caps", xep="XEP-0115", title="Entity Capabilities", version="1.6.0", status="complete",
        notes="the server's <c/> in stream features; clients' caps verified (sha-1, sha-2), "
              "cached across users and restarts, one disco#info per unknown ver")
    own = ServerCaps(server)
    clients = ClientCaps(server, shared_cache())
    module.session_state(_KEY)  # the <c/> last announced (hash, ver, node)
    module.session_state(FEATURES)  # a frozenset: not JSON, so not replicated ...
    module.session_state(VER, replicate=True)  # ... the verified ver is, resolved by caps/features
    module.stream_feature(own.stream_feature)
    module.hook("server/started", own.on_start)
    module.hook("auth/success", own.on_auth)
    module.hook("disco/info/host/node", own.node_info)
    module.hook("pre-presence/broadcast", clients.presence, OBSERVE)
    module.hook("caps/features", clients.features_of)
    return module
