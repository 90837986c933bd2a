"""XEP-0313 §4.1: the query form of an archive, read into a `Filter`; the form advertised.

Pure: no Django, no I/O. The fields (§4.1.1-§4.1.4): with, start, end, before-id,
after-id, ids (the three last are the 'urn:xmpp:mam:2#extended' ones, §8), and the
XEP-0431 full-text field {urn:xmpp:fulltext:0}fulltext. A field the server does not know is
`feature-not-implemented` (§4.1.5); a value that does not parse is `bad-request`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from lxml import etree

from xmppcore import forms, ns
from xmppcore.errors import StanzaError
from xmppcore.forms import Field, Form, FormError
from xmppcore.jid import JID, InvalidJID
from xmppcore.xdv import Validation

FULLTEXT_FIELD = f"{{{ns.FULLTEXT}}}fulltext"  # XEP-0431 §2
MAX_IDS = 100  # 'ids' values in one query: each is one row to look up


@dataclass(frozen=True)
class Filter:
    """What a query asks for; every field optional (§4.1: no filter matches everything)."""

    with_jid: JID | None = None
    start: datetime | None = None
    end: datetime | None = None
    before_id: str | None = None
    after_id: str | None = None
    ids: tuple[str, ...] | None = None
    fulltext: str | None = None


def definition() -> Form:
    """§4.1.5 (Retrieving form fields): every field we support, none required."""
    form = Form(type="form")
    form.add(Field(forms.FORM_TYPE, "hidden", values=[ns.MAM]))
    form.add(Field("with", "jid-single"))
    form.add(Field("start", "text-single"))
    form.add(Field("end", "text-single"))
    form.add(Field("before-id", "text-single"))
    form.add(Field("after-id", "text-single"))
    # §4.1.5: the list of ids is open (XEP-0122 <open/>), its options are never listed.
    form.add(Field("ids", "list-multi", validate=Validation(datatype="xs:string", method="open")))
    form.add(Field(FULLTEXT_FIELD, "text-single", label="Search the message bodies"))
    return form


def form_element() -> etree._Element:
    return forms.build_form(definition())


def parse_filter(query: etree._Element) -> Filter:
    """The `Filter` of a <query xmlns='urn:xmpp:mam:2'/> (no form: everything)."""
    x = forms.find_form(query)
    if x is None:
        return Filter()
    try:
        submitted = forms.parse_form(x)
    except FormError as exc:
        raise StanzaError("bad-request", str(exc)) from None
    if submitted.form_type not in (None, ns.MAM):
        raise StanzaError("bad-request", f"FORM_TYPE must be {ns.MAM}")
    known = {f.var for f in definition().fields}
    for f in submitted.fields:
        if f.var not in known:  # §4.1.5: a field we do not recognise
            raise StanzaError("feature-not-implemented", f"unknown field {f.var!r}")
    values = {f.var: [v for v in f.values if v != ""] for f in submitted.fields if f.var}
    return Filter(
        with_jid=_jid(_one(values, "with")),
        start=_datetime("start", _one(values, "start")),
        end=_datetime("end", _one(values, "end")),
        before_id=_one(values, "before-id"),
        after_id=_one(values, "after-id"),
        ids=_ids(values.get("ids")),
        fulltext=(_one(values, FULLTEXT_FIELD) or "").strip() or None,
    )


def _one(values: dict[str, list[str]], var: str) -> str | None:
    found = values.get(var) or []
    if len(found) > 1:
        raise StanzaError("bad-request", f"{var} takes one value")
    return found[0] if found else None


def _jid(text: str | None) -> JID | None:
    if text is None:
        return None
    try:
        return JID.parse(text.strip())
    except InvalidJID:
        raise StanzaError("bad-request", f"with: not a JID: {text!r}") from None


def _datetime(var: str, text: str | None) -> datetime | None:
    """XEP-0082 §3.2 DateTime (a missing time zone is read as UTC)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise StanzaError("bad-request", f"{var}: not a XEP-0082 DateTime: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _ids(values: list[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if len(values) > MAX_IDS:
        raise StanzaError("policy-violation", f"at most {MAX_IDS} ids per query")
    return tuple(dict.fromkeys(v.strip() for v in values))

