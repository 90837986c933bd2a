"""XEP-0045: Multi-User Chat — the MUC service on each domain's component host
(`XMPP_MUC_HOST`, default conference.{domain}), with XEP-0249 (direct invitations pass
through untouched; rooms advertise jabber:x:conference), XEP-0410 (MUC self-ping) and
XEP-0421 (occupant ids).

Events fired (server bus):
  muc/message (room_jid: JID, element)  after a groupchat message with a body was
      broadcast in a room with logging on (muc#roomconfig_enablelogging): the element
      as the occupants got it (from room/nick, without 'to'), for an archive.
  muc/archive (room_jid: JID, element, sender: str)  the same message before the broadcast
      (the archive stamps its <stanza-id/> on the element everyone gets); sender: real full JID
Events answered (component bus, muc/archive_link.py): muc/access, muc/broadcast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from muc import operations
from muc.disco import ServiceDisco
from muc.engine.config import MAX_HISTORY
from muc.engine.limits import parse_rate
from muc.admin_iq import RoomAdmin
from muc.archive_link import ArchiveLink
from muc.iq_relay import IqRelay
from muc.messages import Messages
from muc.presence import Presences
from muc.register import Registration
from muc.room_commands import attach as attach_room_commands
from muc.service import MucService
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza
from xmppd.modules import Identity

if TYPE_CHECKING:
    from xmppd.hosts import Host
    from xmppd.modules import Module
    from xmppd.server import Server

XEP_VERSION = "1.35.5"


def setup(host: "Host") -> None:
    module = host.module("muc", xep="XEP-0045", title="Multi-User Chat", version=XEP_VERSION,
                         status="partial",
                         notes="room ad-hoc commands for owners: destroy, subject, kick; rooms live on the node that loaded them (no cluster hand-over)")
    for feature in (ns.MUC, ns.MUC_STABLE_ID, ns.MUC_SELF_PING, ns.OCCUPANT_ID, ns.RSM, ns.X_CONFERENCE):
        module.add_feature(feature)
    secret = settings.SECRET_KEY.encode()
    service = MucService(host, secret)
    operations.register(service)
    service.defaults = {"history_length": min(max(int(settings.XMPP_MUC_HISTORY), 0), MAX_HISTORY)}
    service.max_rooms_per_user = int(settings.XMPP_MUC_MAX_ROOMS_PER_USER)
    service.message_rate = parse_rate(str(settings.XMPP_MUC_MESSAGE_RATE))
    presences = Presences(service)
    messages = Messages(service, presences)
    admin = RoomAdmin(service, presences)
    service.admin = admin
    disco = ServiceDisco(service)
    register = Registration(service)
    attach_room_commands(service)
    host.server.hooks.add("server/started", service.load_all)
    host.server.hooks.add("server/closing", lambda *_args: presences.shut_down())
    module.hook("presence/full", presences.to_occupant)
    module.hook("presence/bare", _presence_to_room)
    module.hook("message/bare", messages.to_room)
    module.hook("message/full", messages.to_occupant)
    module.iq("get", ns.MUC_OWNER, "query", admin.owner_get, scope="bare")
    module.iq("set", ns.MUC_OWNER, "query", admin.owner_set, scope="bare")
    module.iq("get", ns.MUC_ADMIN, "query", admin.admin_get, scope="bare")
    module.iq("set", ns.MUC_ADMIN, "query", admin.admin_set, scope="bare")
    module.iq("get", ns.REGISTER, "query", register.get, scope="bare")
    module.iq("set", ns.REGISTER, "query", register.set, scope="bare")
    module.hook("iq/full", IqRelay(service).to_occupant)
    module.hook("disco/info/bare", disco.room_info)
    module.hook("disco/items/bare", disco.room_items)
    module.hook("disco/items/host", disco.public_rooms)
    link = ArchiveLink(service)
    module.hook("muc/access", link.access)
    module.hook("muc/broadcast", link.broadcast)


def _presence_to_room(stanza: Stanza) -> bool:
    """§7.2.1: a join needs a nick; a presence to the bare room JID is refused."""
    if stanza.type in (None, "probe"):
        raise StanzaError("jid-malformed", "join with room@service/nick")
    return True


def load(server: "Server") -> "Module":
    server.hosts.add_component("muc", [Identity("conference", "text", "Chatrooms")], setup)

    async def flush_all(*_args: object) -> None:
        for service in operations.services(server):
            await service.flush()
        operations.unregister(server)

    # The protocol is the component hosts' `muc` module (its row in docs/xeps.md); this one only
    # writes the history batches at shutdown.
    module = server.module("muc-service", xep=None, title="Multi-User Chat: history written at shutdown")
    module.hook("server/stopping", flush_all)
    return module
