"""XEP-0004: Data Forms, with XEP-0122: Data Forms Validation and XEP-0141: Data Forms Layout.

Pure values and functions: `parse_form(el) -> Form`, `build_form(form) -> el`, and
`check_submission(definition, submitted)`, which applies the field-type rules of
XEP-0004 §3.3 and the validation rules of XEP-0122 §3 to a form of type "submit" and
raises `FormError` naming the offending field. No Django, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Union

from lxml import etree

from xmppcore import ns
from xmppcore.jid import JID, InvalidJID
# The XEP-0122 engine lives in xmppcore.xdv; its names are part of this module's API.
from xmppcore.xdv import (BOOLEAN_VALUES, METHODS, RANGE_DATATYPES, Validation, Violation,  # noqa: F401
                          check_count, check_value, is_known_datatype, parse_datatype)

# XEP-0004 §3.1: form types; §3.3: field types.
FORM_TYPES = frozenset({"form", "submit", "cancel", "result"})
FIELD_TYPES = frozenset({"boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi",
                         "list-single", "text-multi", "text-private", "text-single"})
# §3.2: only these may carry more than one <value/>.
MULTI_TYPES = frozenset({"jid-multi", "list-multi", "text-multi", "hidden"})
LIST_TYPES = frozenset({"list-single", "list-multi"})
FORM_TYPE = "FORM_TYPE"  # XEP-0068: the hidden field naming the form's semantics


class FormError(ValueError):
    """A form that is malformed, or a submission that breaks a field's rules."""

    def __init__(self, var: str | None, message: str) -> None:
        super().__init__(f"{var}: {message}" if var else message)
        self.var = var
        self.message = message


# -- the model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """XEP-0004 §3.2: one choice of a list-single / list-multi field."""

    value: str
    label: str | None = None


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

def _violation(f: Field, value: str, exc: Violation) -> FormError:
    """An XEP-0122 rule broken by a submitted value, in the words of a form error."""
    if exc.kind == "min":
        return FormError(f.var, f"{value} is less than the minimum {exc.limit}")
    if exc.kind == "max":
        return FormError(f.var, f"{value} is greater than the maximum {exc.limit}")
    if exc.kind == "regex":
        return FormError(f.var, f"{value!r} does not match the pattern {exc.limit}")
    if exc.kind == "bad-regex":
        return FormError(f.var, "the field's own pattern is invalid")
    if exc.kind == "list-min":
        return FormError(f.var, f"choose at least {exc.limit}")
    if exc.kind == "list-max":
        return FormError(f.var, f"choose at most {exc.limit}")
    return FormError(f.var, f"{value!r} is {exc.message}")


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
            try:
                check_value(v, value)
            except Violation as exc:
                raise _violation(definition, value, exc) from None
    if ftype in ("list-multi", "jid-multi", "text-multi"):
        try:
            check_count(v, len(values))
        except Violation as exc:
            raise _violation(definition, "", exc) from None
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
