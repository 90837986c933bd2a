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
CSI = "urn:xmpp:csi:0"  # XEP-0352
MUC = "http://jabber.org/protocol/muc"  # XEP-0045 join presence
OMEMO_LEGACY = "eu.siacs.conversations.axolotl"  # XEP-0384 0.3 (the deployed one)
OMEMO = "urn:xmpp:omemo:2"  # XEP-0384
OPENPGP = "urn:xmpp:openpgp:0"  # XEP-0373 (OX)
EME = "urn:xmpp:eme:0"  # XEP-0380
X_ENCRYPTED = "jabber:x:encrypted"  # XEP-0027
JINGLE_MESSAGE = "urn:xmpp:jingle-message:0"  # XEP-0353
COMPRESS_FEATURE = "http://jabber.org/features/compress"  # XEP-0138 stream feature
COMPRESS = "http://jabber.org/protocol/compress"  # XEP-0138 negotiation
PRIVATE = "jabber:iq:private"  # XEP-0049
BOOKMARKS = "storage:bookmarks"  # XEP-0048
BOOKMARKS2 = "urn:xmpp:bookmarks:1"  # XEP-0402
VCARD_UPDATE = "vcard-temp:x:update"  # XEP-0153
PUBSUB = "http://jabber.org/protocol/pubsub"  # XEP-0060 (the <item/> of XEP-0402 bookmarks)
MAM = "urn:xmpp:mam:2"  # XEP-0313 (and XEP-0441 preferences)
MAM_EXTENDED = "urn:xmpp:mam:2#extended"  # XEP-0313 §8: before-id/after-id/ids, flip-page, metadata
FULLTEXT = "urn:xmpp:fulltext:0"  # XEP-0431 (the query field is {urn:xmpp:fulltext:0}fulltext)
SM = "urn:xmpp:sm:3"  # XEP-0198: Stream Management
