"""The bookmark sync's writers (privatexml.actions) and its pure helper (privatexml.sync),
without sockets."""

from __future__ import annotations

import pytest
from lxml import etree

from privatexml import actions
from privatexml.sync import legacy_list

pytestmark = pytest.mark.django_db

LEGACY = "storage:bookmarks"
NATIVE = "urn:xmpp:bookmarks:1"
ROOM = "council@conference.localhost"
URL = f"<storage xmlns='{LEGACY}'><url name='Example' url='https://example.org/'/></storage>"
CONF = f"<conference xmlns='{NATIVE}' name='Council' autojoin='true'><nick>Puck</nick></conference>"


def fragment(storage: str) -> dict[str, str]:
    return {LEGACY: actions.wrap([etree.fromstring(storage)])}


def test_store_synced_reports_the_bookmark_lists_only_when_bookmarks_change() -> None:
    assert actions.do_store_synced("alice", "localhost", {"urn:test:x": actions.wrap(
        [etree.fromstring("<x xmlns='urn:test:x'/>")])}, 0) is None
    before, after = actions.do_store_synced("alice", "localhost", fragment(URL), 0)
    assert before is None and etree.fromstring(after).find(f"{{{LEGACY}}}url") is not None
    before, after = actions.do_store_synced("alice", "localhost", {LEGACY: ""}, 0)  # emptied
    assert etree.fromstring(before).find(f"{{{LEGACY}}}url") is not None
    assert etree.fromstring(after).tag == f"{{{LEGACY}}}storage" and len(etree.fromstring(after)) == 0


def test_merge_native_keeps_url_bookmarks_and_honours_the_quota() -> None:
    actions.do_store("alice", "localhost", fragment(URL), 0)
    storage = etree.fromstring(actions.do_merge_native("alice", "localhost", [(ROOM, CONF)], 0))
    conf = storage.find(f"{{{LEGACY}}}conference")
    assert conf.get("jid") == ROOM and conf.get("autojoin") == "true" and conf.findtext(f"{{{LEGACY}}}nick") == "Puck"
    assert storage.find(f"{{{LEGACY}}}url").get("url") == "https://example.org/"
    stored = etree.fromstring(actions.get_fragment("alice", "localhost", LEGACY))
    assert etree.tostring(stored[0]) == etree.tostring(storage)
    with pytest.raises(actions.QuotaExceeded):
        actions.do_merge_native("alice", "localhost", [(f"r{i}@conference.localhost", CONF) for i in range(50)], 500)
    assert len(etree.fromstring(actions.get_fragment("alice", "localhost", LEGACY))[0]) == 2  # unchanged


def test_replace_bookmarks_returns_the_list_it_replaced() -> None:
    assert actions.do_replace_bookmarks("alice", "localhost", URL, 0) is None
    before = actions.do_replace_bookmarks("alice", "localhost", f"<storage xmlns='{LEGACY}'/>", 0)
    assert etree.fromstring(before).find(f"{{{LEGACY}}}url") is not None


def test_legacy_list_of_the_current_item() -> None:
    assert legacy_list([("current", URL)]) == URL
    assert etree.fromstring(legacy_list([])).tag == f"{{{LEGACY}}}storage"  # retracted: empty list
    assert legacy_list([("current", "<other xmlns='urn:test:other'/>")]) is None
