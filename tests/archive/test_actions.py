"""archive.actions: appending batches, keyset paging, retention by the Celery task, and
what goes with a deleted account. No sockets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from archive import actions
from archive.actions import Row
from archive.models import ArchivedMessage
from archive.query import Filter
from archive.tasks import expire_messages
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.rsm import ResultSet

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def row(i: int, owner: str = "bob@localhost", with_jid: str = "alice@localhost", *,
        at: datetime | None = None, roster_check: bool = False, body: str | None = None) -> Row:
    return Row(owner, with_jid, "r", "in", f"id{i}", "", at or T0 + timedelta(minutes=i),
               f"<message xmlns='jabber:client'><body>b{i}</body></message>", body or f"b{i}", roster_check)


def fill(n: int, **kw: object) -> None:
    actions.do_append([row(i, **kw) for i in range(n)])


def ids(result: actions.Result) -> list[str]:
    return [uid for uid, _, _ in result.rows]


def test_pages_are_keyset_slices_in_order() -> None:
    fill(10)
    actions.do_append([row(100, with_jid="carol@localhost")])
    every = actions.query("bob@localhost", Filter(), None, max_page=4)
    assert ids(every) == ["id0", "id1", "id2", "id3"] and not every.complete and every.count == 11
    last = actions.query("bob@localhost", Filter(with_jid=JID.parse("alice@localhost")),
                         ResultSet(max=3, before=""), max_page=50)
    assert ids(last) == ["id7", "id8", "id9"] and last.index == 7 and last.count == 10
    before = actions.query("bob@localhost", Filter(), ResultSet(max=50, before="id2"), max_page=50)
    assert ids(before) == ["id0", "id1"] and before.complete and before.index == 0
    window = actions.query("bob@localhost", Filter(after_id="id3", before_id="id6"), None, max_page=50)
    assert ids(window) == ["id4", "id5"] and window.complete
    by_index = actions.query("bob@localhost", Filter(), ResultSet(max=2, index=9), max_page=50)
    assert ids(by_index) == ["id9", "id100"] and by_index.complete


def test_counts_and_positions_read_a_bounded_number_of_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """XEP-0059 §2.2: <count/> and <first index> may be approximate; below EXACT_COUNT they
    are exact and every COUNT has a LIMIT (never a scan of a whole archive)."""
    monkeypatch.setattr(actions, "EXACT_COUNT", 5)
    fill(10)
    middle = actions.query("bob@localhost", Filter(), ResultSet(max=2, after="id2"), max_page=50)
    with CaptureQueriesContext(connection) as queries:
        few = actions.query("bob@localhost", Filter(before_id="id4"), ResultSet(max=2, before=""),
                            max_page=50)
    assert ids(middle) == ["id3", "id4"] and middle.index == 3 and not middle.complete
    assert ids(few) == ["id2", "id3"] and few.count == 4 and few.index == 2
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 6" in sql for sql in counts)
    big = actions.query("bob@localhost", Filter(), ResultSet(max=0), max_page=50)
    assert big.rows == [] and (big.count > 5 if connection.vendor == "postgresql" else big.count == 10)
    last = actions.query("bob@localhost", Filter(), ResultSet(max=3, before=""), max_page=50)
    assert ids(last) == ["id7", "id8", "id9"] and last.index == last.count - 3


def test_time_bounds_are_id_ranges_and_may_match_nothing() -> None:
    """§4.1.2: start/end become an id range (one lookup on the time index each); a bound
    outside the archive is an empty, complete result with a count of 0."""
    fill(6)
    late = actions.query("bob@localhost", Filter(start=T0 + timedelta(minutes=4)),
                         ResultSet(max=1, before=""), max_page=50)
    assert ids(late) == ["id5"] and late.count == 2 and late.index == 1 and not late.complete
    for flt in (Filter(start=T0 + timedelta(days=1)), Filter(end=T0 - timedelta(minutes=1)),
                Filter(start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=2))):
        empty = actions.query("bob@localhost", flt, ResultSet(max=5), max_page=50)
        assert empty.rows == [] and empty.complete and empty.count == 0 and empty.index is None


def test_filters_by_time_resource_text_and_ids() -> None:
    fill(5)
    timed = actions.query("bob@localhost", Filter(start=T0 + timedelta(minutes=1),
                                                  end=T0 + timedelta(minutes=3)), None, max_page=50)
    assert ids(timed) == ["id1", "id2", "id3"]
    assert ids(actions.query("bob@localhost", Filter(with_jid=JID.parse("alice@localhost/other")),
                             None, max_page=50)) == []
    assert len(actions.query("bob@localhost", Filter(with_jid=JID.parse("alice@localhost/r")),
                             None, max_page=50).rows) == 5
    actions.do_append([row(9, body="Where ART thou")])
    found = actions.query("bob@localhost", Filter(fulltext="art where"), None, max_page=50)
    assert ids(found) == ["id9"]
    picked = actions.query("bob@localhost", Filter(ids=("id4", "id1")), None, max_page=50)
    assert ids(picked) == ["id1", "id4"]


def test_unknown_ids_and_other_archives_are_item_not_found() -> None:
    fill(2)
    fill(2, owner="carol@localhost")
    for flt, rsm in ((Filter(after_id="nope"), None), (Filter(ids=("id0", "nope")), None),
                     (Filter(), ResultSet(after="nope")), (Filter(), ResultSet(before="nope"))):
        with pytest.raises(StanzaError) as err:
            actions.query("bob@localhost", flt, rsm, max_page=50)
        assert err.value.condition == "item-not-found"
    ArchivedMessage.objects.filter(owner="carol@localhost").update(owner="dave@localhost")
    with pytest.raises(StanzaError):
        actions.query("carol@localhost", Filter(after_id="id0"), None, max_page=50)


def test_the_roster_check_keeps_contacts_only() -> None:
    from rosters.models import RosterItem

    RosterItem.objects.create(username="bob", domain="localhost", jid="alice@localhost")
    written = actions.do_append([row(1, roster_check=True),
                                 row(2, with_jid="eve@localhost", roster_check=True),
                                 row(3, with_jid="eve@localhost")])
    assert written == 2
    assert list(ArchivedMessage.objects.values_list("stanza_id", flat=True)) == ["id1", "id3"]


def test_appending_a_batch_twice_writes_it_once() -> None:
    batch = [row(i) for i in range(3)]
    actions.do_append(batch)
    actions.do_append(batch)
    assert ArchivedMessage.objects.count() == 3


def test_retention_task_deletes_old_rows_only() -> None:
    now = datetime.now(timezone.utc)
    actions.do_append([row(1, at=now - timedelta(days=40)), row(2, at=now - timedelta(days=10)),
                       row(3, at=now)])
    with override_settings(XMPP_MAM_RETENTION_DAYS=0):
        assert expire_messages.apply().get() == 0  # 0: kept forever
    with override_settings(XMPP_MAM_RETENTION_DAYS=30):
        assert expire_messages.apply().get() == 1
    assert sorted(ArchivedMessage.objects.values_list("stanza_id", flat=True)) == ["id2", "id3"]
    assert expire_messages.apply(kwargs={"days": 5}).get() == 1


def test_metadata_and_account_deletion() -> None:
    from accounts.actions import do_create_account, do_delete_account

    assert actions.metadata("bob@localhost") is None
    do_create_account("bob", "localhost", "secret")
    fill(3)
    fill(1, owner="carol@localhost")
    actions.do_set_prefs("bob@localhost", "never", [], [])
    (first, _), (last, _) = actions.metadata("bob@localhost")
    assert (first, last) == ("id0", "id2")
    do_delete_account("bob", "localhost")
    assert list(ArchivedMessage.objects.values_list("owner", flat=True)) == ["carol@localhost"]
    assert actions.load_prefs() == {}
