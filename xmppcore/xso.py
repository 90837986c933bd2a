"""Declared payloads: one class says what an element holds; it builds and reads the XML.

A payload class names its namespace and element, then declares its fields with the
specifiers below; the class is a keyword-only dataclass (the same idea as aioxmpp's XSO
and processone's xmpp codec, far smaller):

    class Item(xso.Payload, namespace=ns.DISCO_ITEMS, name="item"):
        jid: JID = xso.attr(type=JID)                    # required: no default
        name: str | None = xso.attr(default=None)        # optional

    class Items(xso.Payload, namespace=ns.DISCO_ITEMS, name="query"):
        node: str | None = xso.attr(default=None)
        items: list[Item] = xso.children(Item)
        rsm: ResultSet | None = xso.child(ResultSet, default=None)   # another namespace

    Items(items=[Item(jid=room) for room in rooms]).to_element()   # -> lxml element
    Items.from_element(stanza.payload)                            # -> Items
    ResultSet.find(stanza.payload)                                # the first child, or None

The same shapes serve the later modules: pubsub's `<items node=…>` holding `<item id=…>`
children (XEP-0060 §6.5), MAM's `<result queryid=… id=…>` around a `<forwarded/>` (XEP-0313
§4.2), a MUC service's disco#items with an `xmppcore.rsm.ResultSet` child (XEP-0059 §3).

The specifiers: `attr` (an attribute; `name=` may be a Clark name such as xml:lang),
`text` (the element's own character data), `text_child` (`<name>text</name>` in the
payload's namespace; an empty element reads as ""), `flag` (an empty child element,
present or not), `child` (one nested payload) and `children` (a list of them). A field
without a default is required. Attribute and element names default to the field name
without a trailing underscore (`type_` is 'type'). `type=` converts values: str (the
default), int (XML Schema xs:int digits), bool (xs:boolean: true/false/1/0), or any
class with a `parse(str)` classmethod whose str() is its wire form, such as JID.

Reading is lenient where RFC 6120 §8.4 wants it (unknown attributes and children are
ignored) and strict where the payload is unusable: a missing required field or a value
that does not convert raises StanzaError('bad-request'). Writing follows field order,
leaves out None (and False flags, empty lists), and never concatenates strings.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, TypeVar, dataclass_transform

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError

P = TypeVar("P", bound="Payload")

_INT = re.compile(r"^\s*[+-]?\d{1,18}\s*$")  # XML Schema integer lexical space, bounded
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}  # XML Schema xs:boolean


def _parse_int(value: str) -> int:
    if not _INT.match(value):
        raise ValueError("not an integer")
    return int(value)


def _parse_bool(value: str) -> bool:
    try:
        return _BOOLEANS[value.strip()]
    except KeyError:
        raise ValueError("not true or false") from None


def _parser(type_: Any) -> Callable[[str], Any]:
    if type_ is str:
        return str
    if type_ is int:
        return _parse_int
    if type_ is bool:
        return _parse_bool
    return type_.parse


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Spec(ABC):
    """How one field maps to XML; `key` (the XML name) is set when the class is created."""

    required = False
    key = ""
    label = ""  # the XML name as an error text shows it

    @abstractmethod
    def bind(self, field_name: str, payload_ns: str) -> None:
        """Resolve the XML name from the field name and the payload's namespace."""

    @abstractmethod
    def read(self, el: etree._Element) -> Any:
        """The field's value in `el`, or None when `el` does not have it."""

    @abstractmethod
    def write(self, el: etree._Element, value: Any) -> None:
        """Put `value` (never None) into `el`."""


class _Value(_Spec):
    """A field holding character data (an attribute, the text, a text child)."""

    def __init__(self, name: str | None, type_: Any) -> None:
        self.name = name
        self.parse = _parser(type_)

    def convert(self, raw: str | None) -> Any:
        if raw is None:
            return None
        try:
            return self.parse(raw)
        except ValueError as err:
            raise StanzaError("bad-request", f"'{self.label}' is invalid: {err}") from None

    def bind(self, field_name: str, payload_ns: str) -> None:
        self.name = self.name or field_name.rstrip("_")
        self.label = self.name


class _Attr(_Value):
    def read(self, el: etree._Element) -> Any:
        return self.convert(el.get(self.key))

    def write(self, el: etree._Element, value: Any) -> None:
        el.set(self.key, _format(value))

    def bind(self, field_name: str, payload_ns: str) -> None:
        super().bind(field_name, payload_ns)
        self.key = self.name or ""


class _Text(_Value):
    def read(self, el: etree._Element) -> Any:
        # An element without text reads as absent: only its text is this field.
        return self.convert(el.text)

    def write(self, el: etree._Element, value: Any) -> None:
        el.text = _format(value)


class _TextChild(_Value):
    def read(self, el: etree._Element) -> Any:
        return self.convert(el.findtext(self.key))

    def write(self, el: etree._Element, value: Any) -> None:
        etree.SubElement(el, self.key).text = _format(value) or None

    def bind(self, field_name: str, payload_ns: str) -> None:
        super().bind(field_name, payload_ns)
        self.key = ns.q(payload_ns, self.name or "")


class _Flag(_TextChild):
    def read(self, el: etree._Element) -> Any:
        return el.find(self.key) is not None

    def write(self, el: etree._Element, value: Any) -> None:
        if value:
            etree.SubElement(el, self.key)


class _Child(_Spec):
    def __init__(self, cls: type[Payload]) -> None:
        self.cls = cls

    def bind(self, field_name: str, payload_ns: str) -> None:
        self.key, self.label = self.cls.xso_tag, self.cls.xso_name

    def read(self, el: etree._Element) -> Any:
        found = el.find(self.key)
        return None if found is None else self.cls.from_element(found)

    def write(self, el: etree._Element, value: Any) -> None:
        value.to_element(el)


class _Children(_Child):
    def read(self, el: etree._Element) -> Any:
        return [self.cls.from_element(child) for child in el.iterchildren(self.key)]

    def write(self, el: etree._Element, value: Any) -> None:
        for item in value:
            item.to_element(el)


_MISSING: Any = dataclasses.MISSING


def _field(spec: _Spec, default: Any, default_factory: Any = _MISSING) -> Any:
    spec.required = default is _MISSING and default_factory is _MISSING
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"xso": spec})


def attr(*, name: str | None = None, type: Any = str, default: Any = _MISSING) -> Any:  # noqa: A002
    """An attribute of the element (a Clark name for a namespaced one)."""
    return _field(_Attr(name, type), default)


def text(*, type: Any = str, default: Any = _MISSING) -> Any:  # noqa: A002
    """The element's own character data."""
    return _field(_Text(None, type), default)


def text_child(*, name: str | None = None, type: Any = str, default: Any = _MISSING) -> Any:  # noqa: A002
    """A child `<name>text</name>` in the payload's namespace."""
    return _field(_TextChild(name, type), default)


def flag(*, name: str | None = None) -> Any:
    """An empty child element whose presence means True."""
    return _field(_Flag(name, str), False)


def child(cls: type[Payload], *, default: Any = _MISSING) -> Any:
    """One nested payload (the first one, when a peer sends several)."""
    return _field(_Child(cls), default)


def children(cls: type[Payload]) -> Any:
    """Every nested payload of that class, in document order."""
    return _field(_Children(cls), _MISSING, list)


@dataclass_transform(kw_only_default=True, field_specifiers=(attr, text, text_child, flag, child, children))
class Payload:
    """The base of declared payloads; subclass with `namespace=` and `name=`."""

    xso_namespace: ClassVar[str]
    xso_name: ClassVar[str]
    xso_tag: ClassVar[str]
    xso_fields: ClassVar[tuple[tuple[str, _Spec], ...]]

    def __init_subclass__(cls, *, namespace: str, name: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(kw_only=True)(cls)
        cls.xso_namespace, cls.xso_name, cls.xso_tag = namespace, name, ns.q(namespace, name)
        specs = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            spec = field.metadata.get("xso")
            if spec is None:
                raise TypeError(f"{cls.__name__}.{field.name} is not declared with an xso specifier")
            spec = copy.copy(spec)  # a subclass binds its own copy to its own namespace
            spec.bind(field.name, namespace)
            specs.append((field.name, spec))
        cls.xso_fields = tuple(specs)

    def to_element(self, parent: etree._Element | None = None) -> etree._Element:
        """The element (appended to `parent` when given); it declares its namespace as the
        default one unless `parent` is already in it."""
        nsmap = None if parent is not None and parent.nsmap.get(None) == self.xso_namespace \
            else {None: self.xso_namespace}
        el = etree.Element(self.xso_tag, nsmap=nsmap) if parent is None \
            else etree.SubElement(parent, self.xso_tag, nsmap=nsmap)
        for field_name, spec in self.xso_fields:
            value = getattr(self, field_name)
            if value is not None:
                spec.write(el, value)
        return el

    @classmethod
    def from_element(cls: type[P], el: etree._Element) -> P:
        """Read `el`; StanzaError('bad-request') when it is not this payload or lacks a
        required field."""
        if el.tag != cls.xso_tag:
            raise StanzaError("bad-request", f"expected <{cls.xso_name} xmlns='{cls.xso_namespace}'/>")
        values = {}
        for field_name, spec in cls.xso_fields:
            value = spec.read(el)
            if value is None and spec.required:
                raise StanzaError("bad-request", f"<{cls.xso_name}/> needs '{spec.label}'")
            if value is not None:
                values[field_name] = value
        return cls(**values)

    @classmethod
    def find(cls: type[P], parent: etree._Element | None) -> P | None:
        """The first child of `parent` that is this payload, read; None when there is none."""
        if parent is None:
            return None
        found = parent.find(cls.xso_tag)
        return None if found is None else cls.from_element(found)
