"""No actor acts on an account with more rights than its own (commands/permissions.py
`check_rank`), through every face: XEP-0133 ad-hoc, Jabber-RPC and REST."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients import connect
from tests.commands.helpers import Api, make_token
from tests.commands.test_adhoc import cmd_of, error_of
from tests.commands.test_adhoc_admin import cannot_login, run_admin
from tests.commands.test_rpc import call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ranks(settings: Any) -> None:
    settings.XMPP_DOMAINS = ["localhost", "example.org"]
    settings.XMPP_ADMINS = ["boss@localhost"]
    settings.XMPP_DOMAIN_ADMINS = "localhost=dadmin@localhost wide@localhost;example.org=wide@localhost"


async def test_domain_admin_cannot_touch_a_server_admin_over_adhoc(xmpp: Any, ranks: None) -> None:
    await xmpp.add_user("boss")
    await xmpp.add_user("wide")
    await xmpp.add_user("romeo")
    dadmin = await connect(xmpp, await xmpp.add_user("dadmin"))
    for name, values in [("change-user-password", {"accountjid": "boss@localhost", "password": "pwn3d"}),
                         ("disable-user", {"accountjids": ["boss@localhost"]}),
                         ("delete-user", {"accountjids": ["boss@localhost"]}),
                         # a domain admin of more domains than dadmin outranks it too
                         ("change-user-password", {"accountjid": "wide@localhost", "password": "pwn3d"})]:
        reply = await run_admin(dadmin, name, values)
        assert error_of(reply)[:2] == ("auth", "forbidden"), name
    assert await cannot_login(xmpp, "boss@localhost", "pwn3d")
    assert (await connect(xmpp, "boss@localhost")).boundjid.bare == "boss@localhost"
    assert (await connect(xmpp, "wide@localhost")).boundjid.bare == "wide@localhost"
    # A plain user of its domain is still within its reach.
    reply = await run_admin(dadmin, "change-user-password", {"accountjid": "romeo@localhost", "password": "n3w"})
    assert cmd_of(reply).get("status") == "completed"
    await connect(xmpp, "romeo@localhost", "n3w")


async def test_domain_admin_cannot_touch_a_server_admin_over_rpc(xmpp: Any, ranks: None) -> None:
    await xmpp.add_user("boss")
    await xmpp.add_user("romeo")
    dadmin = await connect(xmpp, await xmpp.add_user("dadmin"))
    for name, params in [("change_password", ("boss@localhost", "pwn3d")),
                         ("unregister", ("boss@localhost",)), ("disable_account", ("boss@localhost",))]:
        reply = await call(dadmin, name, *params)
        assert error_of(reply)[:2] == ("auth", "forbidden"), name
    assert (await connect(xmpp, "boss@localhost")).boundjid.bare == "boss@localhost"
    assert await call(dadmin, "change_password", "romeo@localhost", "n3w") is True
    # An administrator acting on its own account keeps doing so.
    assert await call(dadmin, "change_password", "dadmin@localhost", "m1ne") is True


async def test_domain_token_cannot_touch_a_server_admin_over_rest(xmpp: Any, ranks: None) -> None:
    await xmpp.add_user("boss")
    await xmpp.add_user("romeo")
    await xmpp.add_user("wide")
    api = Api(await make_token(domain="localhost"))
    for method, path, body in [("POST", "/api/users/boss@localhost/password", {"password": "pwn3d"}),
                               ("POST", "/api/users/boss@localhost/disable", {}),
                               ("DELETE", "/api/users/boss@localhost", None),
                               ("POST", "/api/commands/unregister", {"jid": "wide@localhost"})]:
        r = await api.call(method, path, body)
        assert r.status_code == 403 and r.data["error"]["code"] == "forbidden", (path, r.data)
    assert (await connect(xmpp, "boss@localhost")).boundjid.bare == "boss@localhost"
    r = await api.post("/api/users/romeo@localhost/password", {"password": "n3w"})
    assert r.status_code in (200, 204), r.data
    # The server-wide token keeps its reach.
    r = await Api(await make_token()).post("/api/users/boss@localhost/password", {"password": "n3w"})
    assert r.status_code in (200, 204), r.data
