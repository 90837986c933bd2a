"""XEP-0202: Entity Time.

The server tells its time zone offset and the current UTC time, both in the
formats of XEP-0082 (Date and Time Profiles).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from lxml import etree

from xmppcore import ns, xso
from xmppcore.stanza import Stanza, iq_result

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server


def format_tzo(offset: timedelta) -> str:
    """XEP-0082 §3 TZD in its numeric form: ±hh:mm (XEP-0202 §3 asks for the offset)."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def format_utc(moment: datetime) -> str:
    """XEP-0082 §3.2 DateTime, in UTC with milliseconds: CCYY-MM-DDThh:mm:ss.sssZ."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class EntityTime(xso.Payload, namespace=ns.TIME, name="time"):
    """§3: <tzo/> and <utc/> are both REQUIRED in a result."""

    tzo: str = xso.text_child()
    utc: str = xso.text_child()


def time_element(now: datetime | None = None) -> etree._Element:
    local = (now or datetime.now(timezone.utc)).astimezone()
    return EntityTime(tzo=format_tzo(local.utcoffset() or timedelta(0)), utc=format_utc(local)).to_element()


def answer(stanza: Stanza) -> etree._Element:
    return iq_result(stanza, time_element())


def load(server: "Server") -> "Module":
    module = server.module("time", xep="XEP-0202", title="Entity Time", version="2.0",
                           status="complete")
    module.iq("get", ns.TIME, "time", answer, scope="host")
    module.add_feature(ns.TIME)
    return module
