"""XEP-0050 §4.4 errors: stanza errors with a command-specific condition, and the mapping of
registry failures to stanza errors (XEP-0133 §5)."""

from __future__ import annotations

from lxml import etree

from commands.registry import CommandError
from xmppcore import ns
from xmppcore.errors import StanzaError


class CommandFailure(StanzaError):
    """A stanza error with an XEP-0050 §4.4 command-specific condition after the defined one."""

    def __init__(self, condition: str, specific: str | None, text: str | None = None) -> None:
        super().__init__(condition, text)
        self.specific = specific

    def to_element(self, namespace: str = ns.CLIENT) -> etree._Element:
        el = super().to_element(namespace)
        if self.specific is not None:  # RFC 6120 §8.3.2: the application condition comes last
            etree.SubElement(el, ns.q(ns.COMMANDS, self.specific), nsmap={None: ns.COMMANDS})
        return el


def bad_payload(text: str) -> CommandFailure:
    return CommandFailure("bad-request", "bad-payload", text)



def admin_error(exc: CommandError) -> StanzaError:
    """XEP-0133 §5: registry failures as stanza errors."""
    if exc.code == "bad-request":
        return bad_payload(exc.message)
    condition = {"not-found": "item-not-found", "conflict": "conflict", "forbidden": "forbidden"}.get(
        exc.code, "internal-server-error")
    return StanzaError(condition, exc.message)
