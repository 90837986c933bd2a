"""XEP-0004 data forms, XEP-0122 validation and XEP-0141 layout: XML in, values out."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from lxml import etree

from xmppcore import ns
from xmppcore.forms import (Field, Form, FormError, Option, Page, ReportedRef, Section, Validation,
                            build_form, check_submission, find_form, parse_datatype, parse_form,
                            submit_form, typed_value)

XD = "{jabber:x:data}"
XDV = "{http://jabber.org/protocol/xdata-validate}"
XDL = "{http://jabber.org/protocol/xdata-layout}"


def x(text: str) -> etree._Element:
    return etree.fromstring(text)


SAMPLE = """
<x xmlns='jabber:x:data' xmlns:xdv='http://jabber.org/protocol/xdata-validate' type='form'>
  <title>Bot Configuration</title>
  <instructions>Fill out this form.</instructions>
  <instructions>Second line.</instructions>
  <page xmlns='http://jabber.org/protocol/xdata-layout' label='Page 1'>
    <text>One of two</text>
    <fieldref var='botname'/>
    <section label='Numbers'><fieldref var='maxsubs'/><reportedref/></section>
  </page>
  <field type='hidden' var='FORM_TYPE'><value>jabber:bot</value></field>
  <field type='fixed'><value>Section 1: Bot Info</value></field>
  <field type='text-single' label='The name of your bot' var='botname'><required/></field>
  <field type='text-single' var='maxsubs' label='Max'>
    <desc>How many</desc>
    <xdv:validate datatype='xs:integer'><xdv:range min='1' max='100'/></xdv:validate>
    <value>20</value>
  </field>
  <field type='list-multi' var='features' label='Features'>
    <xdv:validate><xdv:list-range min='1' max='2'/></xdv:validate>
    <option label='Contests'><value>contests</value></option>
    <option label='News'><value>news</value></option>
    <option label='Polls'><value>polls</value></option>
  </field>
  <field type='boolean' var='public'><value>0</value></field>
  <field type='jid-multi' var='invitelist'/>
  <field type='text-single' var='code'>
    <xdv:validate datatype='xs:string'><xdv:regex>([0-9]{3})-([0-9]{2})</xdv:regex></xdv:validate>
  </field>
  <field type='text-multi' var='description'/>
  <field type='list-single' var='level'>
    <option><value>low</value></option><option><value>high</value></option>
  </field>
</x>"""


def sample() -> Form:
    return parse_form(x(SAMPLE))


def test_parse_fields_options_and_validation() -> None:
    form = sample()
    assert form.type == "form" and form.title == "Bot Configuration"
    assert form.instructions == ["Fill out this form.", "Second line."]
    assert form.form_type == "jabber:bot"
    botname = form.field("botname")
    assert botname.required and botname.label == "The name of your bot" and botname.values == []
    maxsubs = form.field("maxsubs")
    assert maxsubs.desc == "How many" and maxsubs.value == "20"
    assert maxsubs.validate == Validation("xs:integer", "range", "1", "100")
    features = form.field("features")
    assert [o.value for o in features.options] == ["contests", "news", "polls"]
    assert features.options[0] == Option("contests", "Contests")
    assert (features.validate.list_min, features.validate.list_max) == (1, 2)
    assert features.validate.method == "basic" and features.validate.datatype == "xs:string"
    assert form.field("code").validate.regex == "([0-9]{3})-([0-9]{2})"
    assert form.fields[1].var is None and form.fields[1].type == "fixed"


def test_parse_layout_pages_and_sections() -> None:
    (page,) = sample().pages
    assert isinstance(page, Page) and page.label == "Page 1" and page.texts == ["One of two"]
    assert page.fieldrefs() == ["botname", "maxsubs"]
    assert page.fieldrefs(deep=False) == ["botname"]
    (section,) = page.sections
    assert section.label == "Numbers" and ReportedRef() in section.content


def test_round_trip_is_stable() -> None:
    el = build_form(sample())
    again = build_form(parse_form(el))
    assert etree.tostring(el) == etree.tostring(again)
    assert el.tag == XD + "x" and el.get("type") == "form"
    # XEP-0141: the page precedes the fields; XEP-0122 elements in their own namespace.
    children = [etree.QName(c).localname for c in el]
    assert children.index("page") < children.index("field")
    validate = el.find(f"{XD}field[@var='maxsubs']/{XDV}validate")
    assert validate.get("datatype") == "xs:integer"
    assert validate.find(f"{XDV}range").attrib == {"min": "1", "max": "100"}
    assert el.find(f"{XDL}page/{XDL}section/{XDL}reportedref") is not None


def test_build_result_with_reported_items() -> None:
    form = Form(type="result", title="Users")
    form.reported = [Field("jid", "jid-single", label="JID"), Field("online", "boolean")]
    form.items = [[Field("jid", values=["a@x"]), Field("online", values=["1"])]]
    el = build_form(form)
    assert [etree.QName(c).localname for c in el] == ["title", "reported", "item"]
    item_field = el.find(f"{XD}item/{XD}field")
    assert item_field.get("type") is None and item_field.findtext(f"{XD}value") == "a@x"
    parsed = parse_form(el)
    assert parsed.reported[0].label == "JID" and parsed.items[0][1].values == ["1"]


def test_submit_omits_types_and_carries_form_type() -> None:
    el = build_form(submit_form({"botname": "Bot", "public": True, "features": ["news"]}, "jabber:bot"))
    assert el.get("type") == "submit"
    assert [f.get("type") for f in el.findall(f"{XD}field")] == [None] * 4
    assert el.findtext(f"{XD}field[@var='public']/{XD}value") == "1"
    assert find_form(etree.fromstring(b"<c>" + etree.tostring(el) + b"</c>"), "jabber:bot") is not None
    assert find_form(etree.fromstring(b"<c>" + etree.tostring(el) + b"</c>"), "other") is None


@pytest.mark.parametrize("text,message", [
    ("<x xmlns='jabber:x:data' type='bogus'/>", "invalid form type"),
    ("<x xmlns='jabber:x:data'/>", "invalid form type"),
    ("<y xmlns='jabber:x:data' type='form'/>", "not a jabber:x:data form"),
    ("<x xmlns='jabber:x:data' type='form'><field type='text-single'/></x>", "has no 'var'"),
    ("<x xmlns='jabber:x:data' type='form'><field var='a'/><field var='a'/></x>", "twice"),
    ("<x xmlns='jabber:x:data' type='form'><field var='a' type='list-single'><option/></field></x>",
     "no <value/>"),
    ("<x xmlns='jabber:x:data' type='form'><field var='a'><validate "
     "xmlns='http://jabber.org/protocol/xdata-validate'><basic/><open/></validate></field></x>",
     "more than one method"),
])
def test_malformed_forms(text: str, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_form(x(text))


def submit(**values: object) -> Form:
    return submit_form(values)  # type: ignore[arg-type]


def test_valid_submission_is_cleaned() -> None:
    values = check_submission(sample(), submit(
        botname="Bot", maxsubs="42", features=["news", "polls"], public="true",
        invitelist=["Juliet@Capulet.lit", "juliet@capulet.lit", "romeo@montague.lit"],
        code="123-45", description=["line one\nline two"], level="high", unknown="ignored"))
    assert values == {
        "botname": ["Bot"], "maxsubs": ["42"], "features": ["news", "polls"], "public": ["true"],
        "invitelist": ["juliet@capulet.lit", "romeo@montague.lit"],  # §3.3: duplicates ignored
        "code": ["123-45"], "description": ["line one", "line two"], "level": ["high"],
    }
    assert "unknown" not in values and "FORM_TYPE" not in values


@pytest.mark.parametrize("values,var,message", [
    ({}, "botname", "required"),
    ({"botname": ""}, "botname", "required"),
    ({"botname": "B", "maxsubs": "0"}, "maxsubs", "less than the minimum 1"),
    ({"botname": "B", "maxsubs": "101"}, "maxsubs", "greater than the maximum 100"),
    ({"botname": "B", "maxsubs": "ten"}, "maxsubs", "not an integer"),
    ({"botname": "B", "features": ["news", "polls", "contests"]}, "features", "at most 2"),
    ({"botname": "B", "features": ["weather"]}, "features", "not one of the options"),
    ({"botname": "B", "level": "medium"}, "level", "not one of the options"),
    ({"botname": "B", "public": "yes"}, "public", "not a boolean"),
    ({"botname": "B", "invitelist": ["not a jid@"]}, "invitelist", "not a valid JID"),
    ({"botname": "B", "code": "12-345"}, "code", "does not match"),
    ({"botname": ["a", "b"]}, "botname", "takes one value"),
])
def test_invalid_submissions_name_the_field(values: dict, var: str, message: str) -> None:
    with pytest.raises(FormError, match=message) as info:
        check_submission(sample(), submit(**values))
    assert info.value.var == var


def test_list_range_minimum_and_explicit_empty() -> None:
    form = sample()
    form.field("features").required = True
    with pytest.raises(FormError, match="required"):
        check_submission(form, submit(botname="B", features=[]))
    form.field("features").required = False
    form.field("features").validate.list_min = 2
    with pytest.raises(FormError, match="at least 2"):
        check_submission(form, submit(botname="B", features=["news"]))
    assert check_submission(form, submit(botname="B", features=[]))["features"] == []


def test_wrong_form_type_and_form_kind() -> None:
    with pytest.raises(FormError, match="FORM_TYPE"):
        check_submission(sample(), submit_form({"botname": "B"}, "other:type"))
    with pytest.raises(FormError, match="type 'submit'"):
        check_submission(sample(), Form(type="result"))


def test_open_validation_allows_other_values() -> None:
    form = Form(fields=[Field("tags", "list-multi", options=[Option("a")],
                              validate=Validation(method="open"))])
    assert check_submission(form, submit(tags=["a", "zzz"])) == {"tags": ["a", "zzz"]}
    form.fields[0].validate = Validation(datatype="xs:integer", method="range", min="1", max="9")
    with pytest.raises(FormError, match="not an integer"):
        check_submission(form, submit(tags=["zzz"]))  # §3.2: range implies open, plus the datatype
    assert check_submission(form, submit(tags=["5"])) == {"tags": ["5"]}


@pytest.mark.parametrize("datatype,text,value", [
    ("xs:integer", "-12", -12), ("xs:int", "2147483647", 2147483647), ("xs:boolean", "true", True),
    ("xs:decimal", "1.50", Decimal("1.50")), ("xs:double", "1e3", 1000.0), ("xs:double", "-INF", float("-inf")),
    ("xs:date", "2003-10-06", datetime(2003, 10, 6).date()),
    ("xs:dateTime", "2003-10-06T11:22:00-07:00", datetime(2003, 10, 6, 18, 22, tzinfo=timezone.utc)),
    ("xs:dateTime", "2003-10-06T11:22:00.1234567Z", datetime(2003, 10, 6, 11, 22, 0, 123456, tzinfo=timezone.utc)),
    ("xs:language", "en-US", "en-US"), ("x:custom", "anything", "anything"),
])
def test_datatypes(datatype: str, text: str, value: object) -> None:
    assert parse_datatype(datatype, text) == value


@pytest.mark.parametrize("datatype,text", [
    ("xs:byte", "128"), ("xs:short", "-32769"), ("xs:integer", "1.0"), ("xs:boolean", "yes"),
    ("xs:date", "06/10/2003"), ("xs:dateTime", "2003-10-06 11:22"), ("xs:decimal", "1e3"),
    ("xs:anyURI", "http://a b"), ("xs:language", "not a tag"), ("xs:time", "25"),
])
def test_datatype_rejections(datatype: str, text: str) -> None:
    with pytest.raises(ValueError):
        parse_datatype(datatype, text)


def test_datetime_range() -> None:
    f = Field("when", validate=Validation("xs:dateTime", "range", min="2003-10-05T00:00:00-07:00",
                                          max="2003-10-24T23:59:59-07:00"))
    form = Form(fields=[f])
    assert check_submission(form, submit(when="2003-10-06T11:22:00Z"))
    with pytest.raises(FormError, match="less than"):
        check_submission(form, submit(when="2003-10-05T06:59:59Z"))


def test_typed_values() -> None:
    form = sample()
    assert typed_value(form.field("maxsubs"), ["7"]) == 7
    assert typed_value(form.field("public"), ["1"]) is True
    assert typed_value(form.field("public"), []) is False
    assert typed_value(form.field("invitelist"), ["a@b"]) == ["a@b"]
    assert typed_value(form.field("description"), ["x", "y"]) == "x\ny"
    assert typed_value(form.field("botname"), []) is None


def test_layout_builder() -> None:
    page = Page("Account").add_text("Step 1 of 2").add_fieldref("a")
    page.add_section(Section("Optional").add_fieldref("b", "c"))
    form = Form(fields=[Field("a"), Field("b"), Field("c")], pages=[page])
    el = build_form(form)
    page_el = el.find(XDL + "page")
    assert page_el.get("label") == "Account" and page_el.nsmap[None] == ns.XDATA_LAYOUT
    assert [etree.QName(c).localname for c in page_el] == ["text", "fieldref", "section"]
    assert [r.get("var") for r in page_el.iter(XDL + "fieldref")] == ["a", "b", "c"]
    assert parse_form(el).pages[0].fieldrefs() == ["a", "b", "c"]


# -- the XEP-0122 engine itself (xmppcore.xdv), shared with the command registry -----------------

@pytest.mark.parametrize("rules,text,kind,limit", [
    (Validation("xs:integer", "range", "1", "5"), "0", "min", "1"),
    (Validation("xs:integer", "range", "1", "5"), "6", "max", "5"),
    (Validation("xs:dateTime", "range", min="2024-01-01T00:00:00Z"), "2023-12-31T23:59:59Z", "min",
     "2024-01-01T00:00:00Z"),
    (Validation("xs:string", "regex", regex="[a-z]+"), "ABC", "regex", "[a-z]+"),
    (Validation("xs:string", "regex", regex="[a-"), "abc", "bad-regex", "[a-"),
    (Validation("xs:byte"), "200", "datatype", "xs:byte"),
])
def test_xdv_violations_name_the_rule(rules: Validation, text: str, kind: str, limit: str) -> None:
    from xmppcore import xdv

    with pytest.raises(xdv.Violation) as info:
        xdv.check_value(rules, text)
    assert (info.value.kind, info.value.limit) == (kind, limit)


def test_xdv_values_and_list_ranges() -> None:
    from xmppcore import xdv

    assert xdv.check_value(Validation("xs:integer", "range", "1", "5"), "5") == 5
    assert xdv.check_value(Validation("xs:string", "range", "b", "c"), "a") == "a"  # §4.7: no range on strings
    assert xdv.check_value(Validation("xs:string", "open"), "anything") == "anything"
    xdv.check_count(Validation(list_min=1, list_max=2), 2)
    for count, kind in ((0, "list-min"), (3, "list-max")):
        with pytest.raises(xdv.Violation) as info:
            xdv.check_count(Validation(list_min=1, list_max=2), count)
        assert info.value.kind == kind
