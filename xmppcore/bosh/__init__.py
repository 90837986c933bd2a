"""XEP-0124 (BOSH) 1.11.2 and XEP-0206 (XMPP Over BOSH) 1.4, sans-I/O.

One `BoshSession` is the protocol state of one BOSH session: the `rid` window and the
order requests are processed in, which held request answers next and with what, the
`hold`/`wait`/`inactivity`/`polling`/`requests` rules, `pause`, `terminate`, the
response cache for retransmission, acknowledgements (`ack`, `report`, `time`) and
key sequencing. It is driven with parsed requests, output elements and the current
time (`now`, seconds on any monotonic clock); it answers with the bytes to feed the
stream machine and the HTTP responses to send. It never waits, reads a clock or
touches a socket: `xmppd.transports.bosh` does that.

XEP-0206 maps the XMPP stream onto the session: the stream machine is fed a synthetic
`<stream:stream>` header when the session is created and on `xmpp:restart`, then the
children of each `<body/>` in `rid` order, and `</stream:stream>` on `type='terminate'`.
`BoshFraming` is the machine's framing: the header and the closing tag are never sent
to a BOSH client (XEP-0206 §4: the session creation response carries the header's
attributes instead).

The package has two modules: `wire` (request parsing, response bodies, conditions,
framing) and `session` (`BoshSession`). Their public names are re-exported here, so
callers keep writing `from xmppcore import bosh` and `bosh.BoshSession`.
"""

from __future__ import annotations

from xmppcore.bosh.session import BoshSession, Outcome
from xmppcore.bosh.wire import (
    CONDITIONS, CONTENT_TYPE, LEGACY_STATUS, MAX_RID, STREAM_CLOSE, VERSION, BoshError,
    BoshFraming, Limits, Request, Response, body_bytes, parse_request, stream_header,
    terminal_response,
)

__all__ = [
    "CONDITIONS", "CONTENT_TYPE", "LEGACY_STATUS", "MAX_RID", "STREAM_CLOSE", "VERSION",
    "BoshError", "BoshFraming", "BoshSession", "Limits", "Outcome", "Request", "Response",
    "body_bytes", "parse_request", "stream_header", "terminal_response",
]
