"""Every XML namespace the server speaks, defined once."""

STREAM = "http://etherx.jabber.org/streams"
CLIENT = "jabber:client"
SERVER = "jabber:server"
XML = "http://www.w3.org/XML/1998/namespace"
STREAMS_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION = "urn:ietf:params:xml:ns:xmpp-session"
ROSTER = "jabber:iq:roster"
ROSTER_VER_FEATURE = "urn:xmpp:features:rosterver"
PRESENCE_PREAPPROVAL = "urn:xmpp:features:pre-approval"
SUB_FEATURE = "urn:xmpp:features:sub"  # placeholder name never advertised
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
RSM = "http://jabber.org/protocol/rsm"  # XEP-0059
VERSION = "jabber:iq:version"
TIME = "urn:xmpp:time"
PING = "urn:xmpp:ping"
LAST = "jabber:iq:last"
REGISTER = "jabber:iq:register"
REGISTER_FEATURE = "http://jabber.org/features/iq-register"
DATA_FORMS = "jabber:x:data"
DELAY = "urn:xmpp:delay"
OFFLINE = "http://jabber.org/protocol/offline"
MSGOFFLINE = "msgoffline"
STANZA_ID = "urn:xmpp:sid:0"
OOB = "jabber:x:oob"
WEBSOCKET = "urn:ietf:params:xml:ns:xmpp-framing"
BOSH = "http://jabber.org/protocol/httpbind"
XBOSH = "urn:xmpp:xbosh"
CAPS = "http://jabber.org/protocol/caps"
COMMANDS = "http://jabber.org/protocol/commands"


def q(namespace: str, name: str) -> str:
    """Clark notation `{ns}name`, the form lxml uses for qualified names."""
    return f"{{{namespace}}}{name}"
SASL_CB = "urn:xmpp:sasl-cb:0"
CHATSTATES = "http://jabber.org/protocol/chatstates"
XDATA_VALIDATE = "http://jabber.org/protocol/xdata-validate"  # XEP-0122
XDATA_LAYOUT = "http://jabber.org/protocol/xdata-layout"  # XEP-0141
ADMIN = "http://jabber.org/protocol/admin"  # XEP-0133 FORM_TYPE and node prefix
RPC = "jabber:iq:rpc"  # XEP-0009
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"  # SOAP 1.2 (XEP-0072)
SOAP_FEATURE = "http://jabber.org/protocol/soap"  # XEP-0072 §3.1 disco feature
HTTP_AUTH = "http://jabber.org/protocol/http-auth"  # XEP-0070
CARBONS = "urn:xmpp:carbons:2"  # XEP-0280
FORWARD = "urn:xmpp:forward:0"  # XEP-0297
HINTS = "urn:xmpp:hints"  # XEP-0334
RECEIPTS = "urn:xmpp:receipts"  # XEP-0184
CHAT_MARKERS = "urn:xmpp:chat-markers:0"  # XEP-0333
MUC_USER = "http://jabber.org/protocol/muc#user"  # XEP-0045
X_CONFERENCE = "jabber:x:conference"  # XEP-0249 direct MUC invitations
VCARD = "vcard-temp"  # XEP-0054
MUC = "http://jabber.org/protocol/muc"  # XEP-0045
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
MUC_ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"
MUC_ROOMINFO = "http://jabber.org/protocol/muc#roominfo"
MUC_REQUEST = "http://jabber.org/protocol/muc#request"
MUC_REGISTER = "http://jabber.org/protocol/muc#register"
MUC_STABLE_ID = "http://jabber.org/protocol/muc#stable_id"
OCCUPANT_ID = "urn:xmpp:occupant-id:0"  # XEP-0421
MUC_SELF_PING = "http://jabber.org/protocol/muc#self-ping-optimization"  # XEP-0410
