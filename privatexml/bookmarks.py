"""XEP-0048 (`<storage xmlns='storage:bookmarks'/>`) <-> XEP-0402 (`urn:xmpp:bookmarks:1`
items): the conversions that keep private storage, PEP `storage:bookmarks` and PEP
`urn:xmpp:bookmarks:1` in step (XEP-0402 §5.3 "Compatibility"). Pure: no ORM, no I/O.

- `to_native(storage)`: a legacy <storage/> as the XEP-0402 items it stands for, one per
  conference, the item id being the room's JID (§5.3.1: "setting the jid attribute to the
  item id"); <url/> bookmarks have no XEP-0402 form and are left out.
- `to_legacy(items, keep=None)`: XEP-0402 items collated into one legacy <storage/>
  (§5.3.1); `keep` is the <storage/> stored before, whose <url/> bookmarks are carried over.
- `changes(before, after)`: which items to publish and which to retract when a client
  replaces the legacy list (§5.3.2: no notification for unchanged items).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from lxml import etree

from xmppcore import ns

_STORAGE = ns.q(ns.BOOKMARKS, "storage")
_LEGACY_CONF = ns.q(ns.BOOKMARKS, "conference")
_NATIVE_CONF = ns.q(ns.BOOKMARKS2, "conference")
_TRUE = frozenset({"true", "1"})  # XML Schema boolean (XEP-0048 §3.2, XEP-0402 §3)


@dataclass(frozen=True)
class Conference:
    """One room bookmark, the same in both formats."""

    jid: str
    name: str | None = None
    autojoin: bool = False
    nick: str | None = None
    password: str | None = None
    extensions: tuple[bytes, ...] = field(default=())  # XEP-0402 <extensions/> children, serialized


def _text(el: etree._Element, tag: str) -> str | None:
    child = el.find(tag)
    return child.text or "" if child is not None else None


def conferences_of_storage(storage: etree._Element) -> list[Conference]:
    """The <conference/> bookmarks of a legacy <storage/> (those without a jid are skipped;
    the last of two for the same room wins, as a PEP item id would)."""
    found: dict[str, Conference] = {}
    for conf in storage.iter(_LEGACY_CONF):
        jid = (conf.get("jid") or "").strip()
        if not jid:
            continue
        found[jid] = Conference(
            jid=jid, name=conf.get("name"), autojoin=(conf.get("autojoin") or "").strip() in _TRUE,
            nick=_text(conf, ns.q(ns.BOOKMARKS, "nick")),
            password=_text(conf, ns.q(ns.BOOKMARKS, "password")))
    return list(found.values())


def conference_of_item(item: etree._Element) -> Conference | None:
    """A XEP-0402 pubsub <item id=jid><conference/></item>; None when it is not one."""
    conf = item.find(_NATIVE_CONF)
    jid = (item.get("id") or "").strip()
    if conf is None or not jid:
        return None
    extensions = conf.find(ns.q(ns.BOOKMARKS2, "extensions"))
    return Conference(
        jid=jid, name=conf.get("name"), autojoin=(conf.get("autojoin") or "").strip() in _TRUE,
        nick=_text(conf, ns.q(ns.BOOKMARKS2, "nick")),
        password=_text(conf, ns.q(ns.BOOKMARKS2, "password")),
        extensions=tuple(etree.tostring(e) for e in extensions) if extensions is not None else ())


def item_of(conf: Conference) -> etree._Element:
    """XEP-0402 §3: <item id=jid><conference xmlns='urn:xmpp:bookmarks:1' .../></item>
    (the <item/> in the pubsub namespace)."""
    item = etree.Element(ns.q(ns.PUBSUB, "item"), nsmap={None: ns.PUBSUB}, id=conf.jid)
    el = etree.SubElement(item, _NATIVE_CONF, nsmap={None: ns.BOOKMARKS2})
    if conf.name is not None:
        el.set("name", conf.name)
    if conf.autojoin:
        el.set("autojoin", "true")
    if conf.nick is not None:
        etree.SubElement(el, ns.q(ns.BOOKMARKS2, "nick")).text = conf.nick
    if conf.password is not None:
        etree.SubElement(el, ns.q(ns.BOOKMARKS2, "password")).text = conf.password
    if conf.extensions:
        ext = etree.SubElement(el, ns.q(ns.BOOKMARKS2, "extensions"))
        for raw in conf.extensions:
            ext.append(etree.fromstring(raw))
    return item


def legacy_conference(conf: Conference) -> etree._Element:
    el = etree.Element(_LEGACY_CONF, nsmap={None: ns.BOOKMARKS}, jid=conf.jid,
                       autojoin="true" if conf.autojoin else "false")
    if conf.name is not None:
        el.set("name", conf.name)
    if conf.nick is not None:
        etree.SubElement(el, ns.q(ns.BOOKMARKS, "nick")).text = conf.nick
    if conf.password is not None:
        etree.SubElement(el, ns.q(ns.BOOKMARKS, "password")).text = conf.password
    return el


def to_native(storage: etree._Element) -> list[etree._Element]:
    """A legacy <storage xmlns='storage:bookmarks'/> as XEP-0402 items."""
    return [item_of(conf) for conf in conferences_of_storage(storage)]


def to_legacy(items: list[etree._Element], keep: etree._Element | None = None) -> etree._Element:
    """XEP-0402 items collated into one legacy <storage/> (§5.3.1). The <url/> bookmarks
    (any child but a conference) of `keep`, the storage this one replaces, stay; the
    <extensions/> of native items have no legacy form and are left out."""
    storage = etree.Element(_STORAGE, nsmap={None: ns.BOOKMARKS})
    for item in items:
        conf = conference_of_item(item)
        if conf is not None:
            storage.append(legacy_conference(conf))
    if keep is not None:
        for child in keep:
            if isinstance(child.tag, str) and child.tag != _LEGACY_CONF:
                storage.append(copy.deepcopy(child))
    return storage


def changes(before: etree._Element | None, after: etree._Element) -> tuple[list[etree._Element], list[str]]:
    """§5.3.2: a client replaced the legacy list `before` by `after`: the XEP-0402 items to
    publish (new or changed rooms) and the ids to retract (rooms no longer there)."""
    old = {c.jid: c for c in conferences_of_storage(before)} if before is not None else {}
    new = {c.jid: c for c in conferences_of_storage(after)}
    publish = [item_of(c) for jid, c in new.items() if _legacy_view(old.get(jid)) != _legacy_view(c)]
    retract = [jid for jid in old if jid not in new]
    return publish, retract


def _legacy_view(conf: Conference | None) -> Conference | None:
    """What a legacy list can say about a room (it cannot carry extensions)."""
    return None if conf is None else Conference(conf.jid, conf.name, conf.autojoin, conf.nick, conf.password)
