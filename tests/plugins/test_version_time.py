"""XEP-0092 (Software Version) and XEP-0202 (Entity Time) on the wire."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

import xmppd
from plugins.time import format_tzo, format_utc, time_element
from tests.clients import connect
from tests.plugins.wire import error_condition, iq_get, q

pytestmark = pytest.mark.django_db(transaction=True)

VERSION = "jabber:iq:version"
TIME = "urn:xmpp:time"
XEP0082_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
XEP0082_TZD = re.compile(r"^(Z|[+-]\d{2}:\d{2})$")


async def test_version_of_the_server(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{VERSION}'/>")
    assert reply.get("type") == "result" and reply.get("from") == "localhost"
    query = reply.find(q(VERSION, "query"))
    assert [child.tag for child in query] == [q(VERSION, "name"), q(VERSION, "version")]
    assert query.findtext(q(VERSION, "name")) == "xmppsite"
    assert query.findtext(q(VERSION, "version")) == xmppd.__version__
    assert re.match(r"^\d+\.\d+\.\d+", xmppd.__version__)


async def test_slixmpp_reads_the_version(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    alice.register_plugin("xep_0092")
    result = await alice["xep_0092"].get_version("localhost", timeout=5)
    assert result["software_version"]["name"] == "xmppsite"
    assert result["software_version"]["version"] == xmppd.__version__


async def test_version_of_another_users_bare_jid_is_not_the_servers_to_give(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    reply = await iq_get(alice, "bob@localhost", f"<query xmlns='{VERSION}'/>")
    assert error_condition(reply) == ("cancel", "service-unavailable")


async def test_time_of_the_server(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    before = datetime.now(timezone.utc)
    reply = await iq_get(alice, "localhost", f"<time xmlns='{TIME}'/>")
    after = datetime.now(timezone.utc)
    assert reply.get("type") == "result" and reply.get("from") == "localhost"
    el = reply.find(q(TIME, "time"))
    tzo, utc = el.findtext(q(TIME, "tzo")), el.findtext(q(TIME, "utc"))
    assert XEP0082_TZD.match(tzo), tzo
    assert XEP0082_UTC.match(utc), utc
    told = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(seconds=1) <= told <= after + timedelta(seconds=1)


def test_tzo_formats() -> None:
    assert format_tzo(timedelta(0)) == "+00:00"
    assert format_tzo(timedelta(hours=-6)) == "-06:00"
    assert format_tzo(timedelta(hours=5, minutes=30)) == "+05:30"
    assert format_tzo(timedelta(hours=-3, minutes=-30)) == "-03:30"


def test_utc_is_converted_and_stamped_z() -> None:
    moment = datetime(2006, 12, 19, 11, 58, 35, 123456, tzinfo=timezone(timedelta(hours=-6)))
    assert format_utc(moment) == "2006-12-19T17:58:35.123Z"


def test_time_element_uses_the_local_offset() -> None:
    el = time_element(datetime(2024, 1, 1, tzinfo=timezone.utc))
    tzo = el.findtext(q(TIME, "tzo"))
    offset = datetime(2024, 1, 1, tzinfo=timezone.utc).astimezone().utcoffset()
    assert tzo == format_tzo(offset)
