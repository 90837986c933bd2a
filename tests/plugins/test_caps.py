"""XEP-0115 on the wire: the server's <c/> in stream features, clients' caps learned once per
ver (verified, cached across users and restarts), wrong and legacy hashes (plugins/caps.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any

import pytest
from lxml import etree
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from plugins.caps import FEATURES, NODE, VER
from tests.clients import RawClient, connect, header
from tests.plugins.wire import iq_get, raw_login
from tests.support.quiet import raw_ping
from tests.support.waiting import wait_for
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)

CAPS = "http://jabber.org/protocol/caps"
INFO = "http://jabber.org/protocol/disco#info"


def session_of(srv: Any, jid: str) -> Any:
    return srv.server.sessions.get(JID.parse(jid))


def client_caps(srv: Any) -> Any:
    return srv.server.hooks.handlers("caps/features")[0].__self__


async def caps_client(srv: Any, jid: str, feature: str, resource: str) -> tuple[Any, list[str]]:
    """A slixmpp client announcing XEP-0115 caps (hashed by slixmpp) with `feature`; the list
    gets the node of every disco#info query it receives."""
    client = await connect(srv, jid, presence=False, resource=resource)
    client.register_plugin("xep_0115")
    client["xep_0030"].add_feature(feature)
    asked: list[str] = []
    client.register_handler(Callback("caps-queries", StanzaPath("iq@type=get/disco_info"),
                                     lambda iq: asked.append(iq["disco_info"]["node"])))
    await client["xep_0115"].update_caps(broadcast=False)
    client.send_presence()
    return client, asked


async def features_after_auth(srv: Any, user: str) -> etree._Element:
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success[^>]*(/>|</success>)")
    raw.take()
    raw.send(header())
    data = await raw.read_until(rb"</stream:features>")
    raw.close()
    features = re.search(rb"<stream:features.*</stream:features>", data, re.S).group(0)
    if b"xmlns:stream" not in features[:200]:
        features = features.replace(b"<stream:features",
                                    b"<stream:features xmlns:stream='http://etherx.jabber.org/streams'", 1)
    return etree.fromstring(features)


async def slixmpp_ver(client: Any, node: str | None = None) -> tuple[str, Any]:
    """The domain's disco#info as the client got it, and slixmpp's own §5 hash of it."""
    iq = await client["xep_0030"].get_info(jid=client.boundjid.domain, node=node)
    return client["xep_0115"].generate_verstring(iq["disco_info"], "sha-1"), iq["disco_info"]


async def test_stream_features_carry_the_servers_caps(xmpp) -> None:
    await xmpp.add_user("alice")
    c = (await features_after_auth(xmpp, "alice")).find(f"{{{CAPS}}}c")
    assert c is not None and c.get("hash") == "sha-1" and c.get("node") == NODE
    alice = await connect(xmpp, "alice@localhost")
    alice.register_plugin("xep_0115")
    expected, info = await slixmpp_ver(alice)
    assert c.get("ver") == expected and "vcard-temp" in info["features"]
    # §6.2: the caps node answers the same identities and features.
    same, node_info = await slixmpp_ver(alice, f"{NODE}#{expected}")
    assert same == expected and node_info["node"] == f"{NODE}#{expected}"
    other = await iq_get(alice, "localhost", f"<query xmlns='{INFO}' node='{NODE}#wrong'/>")
    assert other.get("type") == "error"


async def test_the_servers_ver_follows_its_features(xmpp) -> None:
    await xmpp.add_user("alice")
    before = (await features_after_auth(xmpp, "alice")).find(f"{{{CAPS}}}c").get("ver")
    xmpp.server.features.append("urn:xmppsite:test:late-feature")  # a module loaded later
    after = (await features_after_auth(xmpp, "alice")).find(f"{{{CAPS}}}c").get("ver")
    assert after != before
    alice = await connect(xmpp, "alice@localhost")
    alice.register_plugin("xep_0115")
    assert (await slixmpp_ver(alice))[0] == after


async def test_one_disco_query_per_ver_for_many_resources(xmpp) -> None:
    feature = f"urn:xmppsite:test:{uuid.uuid4().hex}+notify"
    updated: list[str] = []
    xmpp.server.hooks.add("caps/updated", lambda session: updated.append(str(session.jid)))
    alice = await xmpp.add_user("alice")
    bob = await xmpp.add_user("bob")
    first, asked_first = await caps_client(xmpp, alice, feature, "one")
    second, asked_second = await caps_client(xmpp, bob, feature, "two")
    third, asked_third = await caps_client(xmpp, alice, feature, "three")
    sessions = [session_of(xmpp, f"{alice}/one"), session_of(xmpp, f"{bob}/two"),
                session_of(xmpp, f"{alice}/three")]
    await wait_for(lambda: all(feature in s.data.get(FEATURES, ()) for s in sessions))
    assert len(asked_first + asked_second + asked_third) == 1, (asked_first, asked_second, asked_third)
    assert (asked_first + asked_second + asked_third)[0].endswith("#" + sessions[0].data[VER].split(" ")[1])
    assert isinstance(sessions[0].data[FEATURES], frozenset)
    await wait_for(lambda: sorted(updated) == sorted(str(s.jid) for s in sessions))
    assert xmpp.server.hooks.fire_sync("caps/features", sessions[1]) == sessions[1].data[FEATURES]


async def _raw_with_caps(srv: Any, user: str, resource: str, c: str) -> RawClient:
    raw = await raw_login(srv, user, resource=resource)
    raw.send(f"<presence>{c}</presence>")
    return raw


async def _answer_disco(raw: RawClient, features: list[str]) -> str:
    """Answer the server's disco#info query; returns the node it asked for."""
    data = await raw.read_until(rb"<iq[^>]*type=.get.[^>]*>\s*<query[^>]*disco#info.*?(/>|</iq>)")
    iq = re.search(rb"<iq[^>]*type=.get.[^>]*>\s*<query[^>]*disco#info[^>]*>", data).group(0)
    iq_id = re.search(rb'id="([^"]+)"', iq).group(1).decode()
    node = re.search(rb'node="([^"]+)"', iq)
    raw.take()
    feats = "".join(f"<feature var='{f}'/>" for f in features)
    raw.send(f"<iq type='result' id='{iq_id}' to='localhost'><query xmlns='{INFO}'>"
             f"<identity category='client' type='pc'/>{feats}</query></iq>")
    return node.group(1).decode() if node else ""


async def test_a_wrong_hash_is_not_trusted(xmpp) -> None:
    await xmpp.add_user("alice")
    bad_ver = base64.b64encode(uuid.uuid4().bytes + b"1234").decode()
    c = f"<c xmlns='{CAPS}' hash='sha-1' node='urn:test:liar' ver='{bad_ver}'/>"
    liar = await _raw_with_caps(xmpp, "alice", "liar", c)
    assert await _answer_disco(liar, ["urn:test:evil+notify"]) == f"urn:test:liar#{bad_ver}"
    ping = raw_ping(liar)
    await liar.read_until(f"id=.{ping}.")
    session = session_of(xmpp, "alice@localhost/liar")
    assert FEATURES not in session.data and ("sha-1", bad_ver) not in client_caps(xmpp).known
    # §5.4 3.7: the next resource with that ver is asked itself, not given the bad answer.
    second = await _raw_with_caps(xmpp, "alice", "second", c)
    assert await _answer_disco(second, ["urn:test:evil+notify"]) == f"urn:test:liar#{bad_ver}"


async def test_legacy_caps_are_learned_for_that_resource_alone(xmpp) -> None:
    await xmpp.add_user("alice")
    c = f"<c xmlns='{CAPS}' node='urn:test:legacy' ver='1.0'/>"
    raw = await _raw_with_caps(xmpp, "alice", "old", c)
    assert await _answer_disco(raw, ["urn:test:legacy+notify"]) == "urn:test:legacy#1.0"
    session = session_of(xmpp, "alice@localhost/old")
    await wait_for(lambda: "urn:test:legacy+notify" in session.data.get(FEATURES, ()))
    assert VER not in session.data  # nothing verified: nothing other nodes could look up
    assert not any(ver == "1.0" for _, ver in client_caps(xmpp).known)


async def test_verified_caps_survive_a_restart(make_server) -> None:
    feature = f"urn:xmppsite:test:{uuid.uuid4().hex}+notify"
    first_server = await make_server()
    alice = await first_server.add_user("alice")
    client, asked = await caps_client(first_server, alice, feature, "one")
    session = session_of(first_server, f"{alice}/one")
    await wait_for(lambda: feature in session.data.get(FEATURES, ()))
    assert len(asked) == 1
    await first_server.runner.stop()

    restarted = await make_server()  # a new process's server: empty memory, same cache
    assert not client_caps(restarted).known
    again, asked_again = await caps_client(restarted, alice, feature, "two")
    session = session_of(restarted, f"{alice}/two")
    await wait_for(lambda: feature in session.data.get(FEATURES, ()))
    assert asked_again == []


async def test_resources_with_an_unknown_ver_wait_for_the_one_query(xmpp) -> None:
    await xmpp.add_user("alice")
    feature = f"urn:xmppsite:test:{uuid.uuid4().hex}"
    # §5.1 by hand: one identity, one feature.
    ver = base64.b64encode(hashlib.sha1(f"client/pc//<{feature}<".encode()).digest()).decode()
    c = f"<c xmlns='{CAPS}' hash='sha-1' node='urn:test:held' ver='{ver}'/>"
    asked = await _raw_with_caps(xmpp, "alice", "asked", c)
    await asked.read_until(rb"disco#info")  # the query is out; its answer is held back
    waiting = await _raw_with_caps(xmpp, "alice", "waiting", c)
    ping = raw_ping(waiting)
    seen = await waiting.read_until(f"id=.{ping}.")
    assert b"disco#info" not in seen  # the server did not ask this resource too
    assert await _answer_disco(asked, [feature]) == f"urn:test:held#{ver}"
    sessions = [session_of(xmpp, "alice@localhost/asked"), session_of(xmpp, "alice@localhost/waiting")]
    await wait_for(lambda: all(s.data.get(FEATURES) == frozenset({feature}) for s in sessions))
    ping = raw_ping(waiting)
    assert b"disco#info" not in await waiting.read_until(f"id=.{ping}.")
