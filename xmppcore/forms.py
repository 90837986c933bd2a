"""XEP-0004: Data Forms, with XEP-0122: Data Forms Validation and XEP-0141: Data Forms Layout.

Pure values and functions: `parse_form(el) -> Form`, `build_form(form) -> el`, and
`check_submission(definition, submitted)`, which applies the field-type rules of
XEP-0004 §3.3 and the validation rules of XEP-0122 §3 to a form of type "submit" and
raises `FormError` naming the offending field. No Django, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Union

from lxml import etree

from xmppcore import ns
from xmppcore.jid import JID, InvalidJID

# XEP-0004 §3.1: form types; §3.3: field types.
FORM_TYPES = frozenset({"form", "submit", "cancel", "result"})
FIELD_TYPES = frozenset({"boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi",
                         "list-single", "text-multi", "text-private", "text-single"})
# §3.2: only these may carry more than one <value/>.
MULTI_TYPES = frozenset({"jid-multi", "list-multi", "text-multi", "hidden"})
LIST_TYPES = frozenset({"list-single", "list-multi"})
BOOLEAN_VALUES = {"1": True, "true": True, "0": False, "false": False}
FORM_TYPE = "FORM_TYPE"  # XEP-0068: the hidden field naming the form's semantics
# XEP-0122 §3.2: validation methods (list-range is orthogonal, §3.3).
METHODS = frozenset({"basic", "open", "range", "regex"})


class FormError(ValueError):
    """A form that is malformed, or a submission that breaks a field's rules."""

    def __init__(self, var: str | None, message: str) -> None:
        super().__init__(f"{var}: {message}" if var else message)
        self.var = var
        self.message = message


# -- XEP-0122 datatypes -------------------------------------------------------------------

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DOUBLE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?INF|NaN")
_INTEGER = re.compile(r"[+-]?\d+")
_TZ = r"(Z|[+-]\d{2}:\d{2})?"
_DATE = re.compile(r"-?\d{4,}-\d{2}-\d{2}" + _TZ)
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?" + _TZ)
_DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?" + _TZ)
_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")
_URI_FORBIDDEN = re.compile(r"[\s<>\"{}|\\^`]")
# XML Schema Part 2 §3.3: the bounded integer types (registry of xdv datatypes).
_INT_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "xs:integer": (None, None), "xs:long": (-2**63, 2**63 - 1), "xs:int": (-2**31, 2**31 - 1),
    "xs:short": (-2**15, 2**15 - 1), "xs:byte": (-2**7, 2**7 - 1),
    "xs:nonNegativeInteger": (0, None), "xs:positiveInteger": (1, None),
    "xs:nonPositiveInteger": (None, 0), "xs:negativeInteger": (None, -1),
    "xs:unsignedLong": (0, 2**64 - 1), "xs:unsignedInt": (0, 2**32 - 1),
    "xs:unsignedShort": (0, 2**16 - 1), "xs:unsignedByte": (0, 2**8 - 1),
}


def _fraction_to_micro(text: str) -> str:
    """datetime.fromisoformat takes at most 6 fractional digits; XML Schema takes any."""
    return re.sub(r"\.(\d{1,6})\d*", lambda m: "." + m.group(1).ljust(6, "0"), text)


def _aware(value: datetime) -> datetime:
    # XML Schema §3.2.7.4: a value without a timezone is compared as if in UTC here.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _parse_integer(datatype: str, text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError("not an integer")
    value = int(text)
    low, high = _INT_BOUNDS[datatype]
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"out of the range of {datatype}")
    return value


def _parse_decimal(text: str) -> Decimal:
    if not _DECIMAL.fullmatch(text):
        raise ValueError("not a decimal number")
    return Decimal(text)


def _parse_double(text: str) -> float:
    if not _DOUBLE.fullmatch(text):
        raise ValueError("not a double")
    return float(text.replace("INF", "inf"))


def _parse_boolean(text: str) -> bool:
    if text not in BOOLEAN_VALUES:
        raise ValueError("not a boolean (0, 1, false, true)")
    return BOOLEAN_VALUES[text]


def _parse_date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise ValueError("not a date (YYYY-MM-DD)")
    return date.fromisoformat(text[:10])


def _parse_time(text: str) -> time:
    if not _TIME.fullmatch(text):
        raise ValueError("not a time (hh:mm:ss)")
    return time.fromisoformat(_fraction_to_micro(text).replace("Z", "+00:00"))


def _parse_datetime(text: str) -> datetime:
    if not _DATETIME.fullmatch(text):
        raise ValueError("not a date and time (YYYY-MM-DDThh:mm:ss[Z])")
    return _aware(datetime.fromisoformat(_fraction_to_micro(text).replace("Z", "+00:00")))


def _parse_language(text: str) -> str:
    if not _LANGUAGE.fullmatch(text):
        raise ValueError("not a language tag")
    return text


def _parse_uri(text: str) -> str:
    if _URI_FORBIDDEN.search(text):
        raise ValueError("not a URI")
    return text


_PARSERS: dict[str, Callable[[str], Any]] = {
    "xs:string": str, "xs:boolean": _parse_boolean, "xs:decimal": _parse_decimal,
    "xs:double": _parse_double, "xs:float": _parse_double, "xs:date": _parse_date,
    "xs:time": _parse_time, "xs:dateTime": _parse_datetime, "xs:language": _parse_language,
    "xs:anyURI": _parse_uri,
}
for _name in _INT_BOUNDS:
    _PARSERS[_name] = (lambda n: lambda text: _parse_integer(n, text))(_name)
# XEP-0122 §4.7 / xdv registry: <range/> only for datatypes with ordered, finite values.
RANGE_DATATYPES = frozenset(set(_INT_BOUNDS) | {"xs:decimal", "xs:double", "xs:float", "xs:date",
                                                 "xs:time", "xs:dateTime"})


def parse_datatype(datatype: str, text: str) -> Any:
    """The Python value of `text` under an XML Schema datatype; ValueError when invalid.

    XEP-0122 §4.1: a datatype the processor does not understand is validated as xs:string.
    """
    return _PARSERS.get(datatype, str)(text)


def is_known_datatype(datatype: str) -> bool:
    return datatype in _PARSERS


# -- the model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """XEP-0004 §3.2: one choice of a list-single / list-multi field."""

    value: str
    label: str | None = None


@dataclass
class Validation:
    """XEP-0122 §3: <validate datatype=...> with at most one method and a list-range."""

    datatype: str = "xs:string"
    method: str = "basic"  # basic | open | range | regex
    min: str | None = None  # <range min=/> in the datatype's lexical space
    max: str | None = None
    regex: str | None = None
    list_min: int | None = None  # <list-range min= max=/> (§3.3)
    list_max: int | None = None


@dataclass
class Field:
    """XEP-0004 §3.2 <field/>: `type` None means "not stated" (allowed in submit forms)."""

    var: str | None
    type: str | None = "text-single"
    label: str | None = None
    desc: str | None = None
    required: bool = False
    values: list[str] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    validate: Validation | None = None

    @property
    def value(self) -> str | None:
        return self.values[0] if self.values else None

    @property
    def effective_type(self) -> str:
        # §3.3: text-single is the default, and what an unknown type is treated as.
        return self.type if self.type in FIELD_TYPES else "text-single"


@dataclass(frozen=True)
class Text:
    """XEP-0141 §8.5 <text/>: descriptive text in a page or section."""

    text: str


@dataclass(frozen=True)
class FieldRef:
    """XEP-0141 §8.3 <fieldref var=.../>."""

    var: str


@dataclass(frozen=True)
class ReportedRef:
    """XEP-0141 §8.4 <reportedref/>: where the <reported/> table goes."""


@dataclass
class Section:
    """XEP-0141 §8.2 <section/>: texts, fieldrefs, a reportedref and subsections, in order."""

    label: str | None = None
    content: list["LayoutItem"] = field(default_factory=list)

    def add_text(self, text: str) -> "Section":
        self.content.append(Text(text))
        return self

    def add_fieldref(self, *vars_: str) -> "Section":
        self.content.extend(FieldRef(v) for v in vars_)
        return self

    def add_section(self, section: "Section") -> "Section":
        self.content.append(section)
        return self

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self.content if isinstance(item, Text)]

    @property
    def sections(self) -> list["Section"]:
        return [item for item in self.content if isinstance(item, Section)]

    def fieldrefs(self, *, deep: bool = True) -> list[str]:
        """The referenced vars in rendering order (XEP-0141 §4.2), subsections included."""
        out: list[str] = []
        for item in self.content:
            if isinstance(item, FieldRef):
                out.append(item.var)
            elif deep and isinstance(item, Section):
                out.extend(item.fieldrefs())
        return out


@dataclass
class Page(Section):
    """XEP-0141 §8.1 <page/>: the root of a layout; one form may carry several."""


LayoutItem = Union[Text, FieldRef, ReportedRef, Section]


@dataclass
class Form:
    """XEP-0004 <x xmlns='jabber:x:data'/>."""

    type: str = "form"
    title: str | None = None
    instructions: list[str] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    reported: list[Field] | None = None  # §3.4: the table header of a result
    items: list[list[Field]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)  # XEP-0141

    def field(self, var: str) -> Field | None:
        for f in self.fields:
            if f.var == var:
                return f
        return None

    def add(self, f: Field) -> Field:
        self.fields.append(f)
        return f

    @property
    def form_type(self) -> str | None:
        """XEP-0068: the value of the hidden FORM_TYPE field, if any."""
        f = self.field(FORM_TYPE)
        return f.value if f is not None else None

    def values(self) -> dict[str, list[str]]:
        return {f.var: list(f.values) for f in self.fields if f.var is not None}


# -- parsing --------------------------------------------------------------------------------

def _q(name: str) -> str:
    return ns.q(ns.DATA_FORMS, name)


def _text(el: etree._Element | None) -> str | None:
    return None if el is None else (el.text or "")


def _parse_validate(el: etree._Element) -> Validation:
    v = Validation(datatype=el.get("datatype") or "xs:string")
    methods = [child for child in el if etree.QName(child).localname in METHODS
               and etree.QName(child).namespace == ns.XDATA_VALIDATE]
    if len(methods) > 1:  # XEP-0122 §3.2: "MUST NOT include more than one"
        raise FormError(None, "a <validate/> element has more than one method")
    if methods:
        m = methods[0]
        v.method = etree.QName(m).localname
        if v.method == "range":
            v.min, v.max = m.get("min"), m.get("max")
        elif v.method == "regex":
            v.regex = m.text or ""
    lr = el.find(ns.q(ns.XDATA_VALIDATE, "list-range"))
    if lr is not None:
        v.list_min = _positive(lr.get("min"))
        v.list_max = _positive(lr.get("max"))
    return v


def _positive(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise FormError(None, f"list-range bound {text!r} is not a non-negative integer")
    return int(text)


def _parse_field(el: etree._Element) -> Field:
    f = Field(var=el.get("var"), type=el.get("type"), label=el.get("label"),
              desc=_text(el.find(_q("desc"))), required=el.find(_q("required")) is not None)
    f.values = [v.text or "" for v in el.findall(_q("value"))]
    for opt in el.findall(_q("option")):
        value = opt.find(_q("value"))
        if value is None:  # §3.2: "MUST contain one and only one <value/> child"
            raise FormError(f.var, "an <option/> has no <value/>")
        f.options.append(Option(value.text or "", opt.get("label")))
    validate = el.find(ns.q(ns.XDATA_VALIDATE, "validate"))
    if validate is not None:
        f.validate = _parse_validate(validate)
    return f


def _parse_layout(el: etree._Element, cls: type[Section]) -> Section:
    section = cls(label=el.get("label"))
    for child in el:
        if not isinstance(child.tag, str) or etree.QName(child).namespace != ns.XDATA_LAYOUT:
            continue
        name = etree.QName(child).localname
        if name == "text":
            section.content.append(Text(child.text or ""))
        elif name == "fieldref":
            if child.get("var") is None:
                raise FormError(None, "a <fieldref/> has no 'var'")
            section.content.append(FieldRef(child.get("var")))
        elif name == "reportedref":
            section.content.append(ReportedRef())
        elif name == "section":
            section.content.append(_parse_layout(child, Section))
    return section


def parse_form(el: etree._Element) -> Form:
    """An <x xmlns='jabber:x:data'/> element as a Form; FormError when malformed."""
    if el.tag != _q("x"):
        raise FormError(None, "not a jabber:x:data form")
    form_type = el.get("type")
    if form_type not in FORM_TYPES:
        raise FormError(None, f"invalid form type {form_type!r}")
    form = Form(type=form_type, title=_text(el.find(_q("title"))),
                instructions=[i.text or "" for i in el.findall(_q("instructions"))])
    seen: set[str] = set()
    for child in el.findall(_q("field")):
        f = _parse_field(child)
        if f.var is None and f.type != "fixed":  # §3.2: only fixed fields may lack a var
            raise FormError(None, "a field other than 'fixed' has no 'var'")
        if f.var is not None:
            if f.var in seen:
                raise FormError(f.var, "the field appears twice")
            seen.add(f.var)
        form.fields.append(f)
    reported = el.find(_q("reported"))
    if reported is not None:
        form.reported = [_parse_field(c) for c in reported.findall(_q("field"))]
    form.items = [[_parse_field(c) for c in item.findall(_q("field"))] for item in el.findall(_q("item"))]
    form.pages = [_parse_layout(p, Page) for p in el.findall(ns.q(ns.XDATA_LAYOUT, "page"))]  # type: ignore[misc]
    return form


def find_form(parent: etree._Element, form_type: str | None = None) -> etree._Element | None:
    """The first jabber:x:data child of `parent` (with FORM_TYPE `form_type` if given)."""
    for child in parent.iterchildren(_q("x")):
        if form_type is None:
            return child
        for f in child.iterchildren(_q("field")):
            if f.get("var") == FORM_TYPE and f.findtext(_q("value")) == form_type:
                return child
    return None


# -- building -------------------------------------------------------------------------------

def _build_validate(parent: etree._Element, v: Validation) -> None:
    el = etree.SubElement(parent, ns.q(ns.XDATA_VALIDATE, "validate"), nsmap={None: ns.XDATA_VALIDATE})
    el.set("datatype", v.datatype)
    method = etree.SubElement(el, ns.q(ns.XDATA_VALIDATE, v.method if v.method in METHODS else "basic"))
    if v.method == "range":
        if v.min is not None:
            method.set("min", v.min)
        if v.max is not None:
            method.set("max", v.max)
    elif v.method == "regex":
        method.text = v.regex or ""
    if v.list_min is not None or v.list_max is not None:
        lr = etree.SubElement(el, ns.q(ns.XDATA_VALIDATE, "list-range"))
        if v.list_min is not None:
            lr.set("min", str(v.list_min))
        if v.list_max is not None:
            lr.set("max", str(v.list_max))


def _build_field(parent: etree._Element, f: Field, *, with_type: bool = True) -> etree._Element:
    el = etree.SubElement(parent, _q("field"))
    if f.var is not None:
        el.set("var", f.var)
    if f.type is not None and with_type:
        el.set("type", f.type)
    if f.label is not None:
        el.set("label", f.label)
    if f.desc is not None:
        etree.SubElement(el, _q("desc")).text = f.desc
    if f.required:
        etree.SubElement(el, _q("required"))
    if f.validate is not None:
        _build_validate(el, f.validate)
    for value in f.values:
        etree.SubElement(el, _q("value")).text = value
    for opt in f.options:
        o = etree.SubElement(el, _q("option"))
        if opt.label is not None:
            o.set("label", opt.label)
        etree.SubElement(o, _q("value")).text = opt.value
    return el


def _build_layout(parent: etree._Element, section: Section, name: str) -> None:
    nsmap = {None: ns.XDATA_LAYOUT} if name == "page" else None
    el = etree.SubElement(parent, ns.q(ns.XDATA_LAYOUT, name), nsmap=nsmap)
    if section.label is not None:
        el.set("label", section.label)
    for item in section.content:
        if isinstance(item, Text):
            etree.SubElement(el, ns.q(ns.XDATA_LAYOUT, "text")).text = item.text
        elif isinstance(item, FieldRef):
            etree.SubElement(el, ns.q(ns.XDATA_LAYOUT, "fieldref"), var=item.var)
        elif isinstance(item, ReportedRef):
            etree.SubElement(el, ns.q(ns.XDATA_LAYOUT, "reportedref"))
        else:
            _build_layout(el, item, "section")


def build_form(form: Form) -> etree._Element:
    """The <x xmlns='jabber:x:data'/> element for `form` (XEP-0004 §3 element order)."""
    if form.type not in FORM_TYPES:
        raise FormError(None, f"invalid form type {form.type!r}")
    x = etree.Element(_q("x"), nsmap={None: ns.DATA_FORMS})
    x.set("type", form.type)
    if form.title is not None:
        etree.SubElement(x, _q("title")).text = form.title
    for text in form.instructions:
        etree.SubElement(x, _q("instructions")).text = text
    for page in form.pages:  # XEP-0141 §3.1: pages come before the fields they reference
        _build_layout(x, page, "page")
    with_type = form.type != "submit"
    for f in form.fields:
        _build_field(x, f, with_type=with_type)
    if form.reported is not None:
        reported = etree.SubElement(x, _q("reported"))
        for f in form.reported:
            _build_field(reported, f)
    for item in form.items:
        item_el = etree.SubElement(x, _q("item"))
        for f in item:
            _build_field(item_el, f, with_type=False)
    return x


def submit_form(values: dict[str, str | Iterable[str] | bool | int], form_type: str | None = None) -> Form:
    """A form of type "submit" (what a client sends): convenience for tests and clients."""
    form = Form(type="submit")
    if form_type is not None:
        form.add(Field(FORM_TYPE, "hidden", values=[form_type]))
    for var, value in values.items():
        if isinstance(value, bool):
            vals = ["1" if value else "0"]
        elif isinstance(value, (str, int)):
            vals = [str(value)]
        else:
            vals = [str(v) for v in value]
        form.add(Field(var, None, values=vals))
    return form


# -- validation of submissions (XEP-0004 §3.3 and §4, XEP-0122 §3) ----------------------------------

def _check_datatype(f: Field, value: str, datatype: str) -> Any:
    try:
        return parse_datatype(datatype, value)
    except (ValueError, InvalidOperation) as exc:
        raise FormError(f.var, f"{value!r} is {exc}") from None


def _check_range(f: Field, v: Validation, typed: Any, value: str) -> None:
    if v.datatype not in RANGE_DATATYPES:  # §4.7: <range/> MUST NOT be used with xs:string
        return
    low = parse_datatype(v.datatype, v.min) if v.min is not None else None
    high = parse_datatype(v.datatype, v.max) if v.max is not None else None
    if low is not None and typed < low:
        raise FormError(f.var, f"{value} is less than the minimum {v.min}")
    if high is not None and typed > high:
        raise FormError(f.var, f"{value} is greater than the maximum {v.max}")


def _check_regex(f: Field, v: Validation, value: str) -> None:
    # §3.2.4: POSIX extended syntax; Python's re accepts its common subset. The pattern
    # applies to the whole value (XML Schema patterns are implicitly anchored).
    try:
        matched = re.fullmatch(v.regex or "", value) is not None
    except re.error:
        raise FormError(f.var, "the field's own pattern is invalid") from None
    if not matched:
        raise FormError(f.var, f"{value!r} does not match the pattern {v.regex}")


def _check_values(definition: Field, values: list[str]) -> list[str]:
    ftype = definition.effective_type
    v = definition.validate or Validation()
    if ftype not in MULTI_TYPES and len(values) > 1:  # §3.2 <value/>
        raise FormError(definition.var, f"a {ftype} field takes one value")
    if ftype == "boolean":
        for value in values:
            if value not in BOOLEAN_VALUES:
                raise FormError(definition.var, f"{value!r} is not a boolean (0, 1, false, true)")
        return values
    if ftype in ("jid-single", "jid-multi"):
        values = _check_jids(definition, values)
    if ftype in LIST_TYPES and v.method == "basic" and definition.options:
        # §3.3: the submitter MUST NOT insert new options; XEP-0122 §3.2: any method but
        # <basic/> makes the list open.
        allowed = {o.value for o in definition.options}
        for value in values:
            if value not in allowed:
                raise FormError(definition.var, f"{value!r} is not one of the options")
    if ftype not in ("jid-single", "jid-multi"):
        for value in values:
            typed = _check_datatype(definition, value, v.datatype)
            if v.method == "range":
                _check_range(definition, v, typed, value)
            elif v.method == "regex":
                _check_regex(definition, v, value)
    if ftype in ("list-multi", "jid-multi", "text-multi"):
        if v.list_min is not None and len(values) < v.list_min:
            raise FormError(definition.var, f"choose at least {v.list_min}")
        if v.list_max is not None and len(values) > v.list_max:
            raise FormError(definition.var, f"choose at most {v.list_max}")
    return values


def _check_jids(definition: Field, values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        try:
            jid = str(JID.parse(value.strip()))
        except InvalidJID:
            raise FormError(definition.var, f"{value!r} is not a valid JID") from None
        if jid not in out:  # §3.3 jid-multi: duplicate JIDs MUST be ignored
            out.append(jid)
    return out


def _is_empty(values: list[str]) -> bool:
    return not values or all(v == "" for v in values)


def check_submission(definition: Form, submitted: Form) -> dict[str, list[str]]:
    """Validate a "submit" form against the "form" it answers; return its cleaned values.

    Only the definition's fields are returned (§3.1: a processor MUST ignore fields it
    does not understand); an optional field left out is absent from the result, and a
    required one left out or empty raises FormError. Fixed fields are never returned.
    """
    if submitted.type not in ("submit", "cancel"):
        raise FormError(None, f"expected a form of type 'submit', got {submitted.type!r}")
    expected_type = definition.form_type
    if expected_type is not None and submitted.form_type not in (None, expected_type):
        raise FormError(FORM_TYPE, f"expected FORM_TYPE {expected_type}")
    out: dict[str, list[str]] = {}
    for f in definition.fields:
        if f.var is None or f.effective_type == "fixed" or f.var == FORM_TYPE:
            continue
        sent = submitted.field(f.var)
        if sent is None or _is_empty(sent.values):
            if f.required:
                raise FormError(f.var, f"{f.label or f.var} is required")
            if sent is not None:
                out[f.var] = []  # explicitly emptied (XEP-0004 §3.6)
            continue
        values = sent.values
        if f.effective_type == "text-multi":
            values = [line for v in values for line in v.splitlines()] or [""]
        out[f.var] = _check_values(f, values)
    return out


def typed_value(definition: Field, values: list[str]) -> Any:
    """The Python value of checked `values` for `definition`: a list for multi-valued
    fields, a bool for booleans, the XEP-0122 datatype's value otherwise (None if empty)."""
    ftype = definition.effective_type
    datatype = definition.validate.datatype if definition.validate else "xs:string"
    if ftype == "boolean":
        return BOOLEAN_VALUES.get(values[0], False) if values else False
    if ftype == "text-multi":
        return "\n".join(values)
    convert = (lambda s: s) if ftype in ("jid-single", "jid-multi") else (
        lambda s: parse_datatype(datatype, s))
    if ftype in MULTI_TYPES:
        return [convert(v) for v in values]
    return convert(values[0]) if values and values[0] != "" else None
