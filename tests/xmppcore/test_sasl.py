"""SASL server mechanisms: SCRAM (RFC 5802/7677, -PLUS with RFC 5929/9266 bindings) and PLAIN (RFC 4616).

The client side is scramp's ScramClient (an independent implementation), the RFC test
vectors, or a hand-built RFC 5802 client where scramp cannot say what we need (authzid).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from scramp import ScramClient, ScramMechanism
from scramp import core as scramp_core

from xmppcore import sasl
from xmppcore.sasl import (
    Challenge, Failure, NeedCredentials, NeedPasswordCheck, SaslError, SaslServer, ScramCredentials, Step, Success,
    check_password, decode_payload, make_scram_credentials, mechanisms_offered,
)

HASHES = ["SHA-1", "SHA-256"]
BINDINGS = {"tls-exporter": b"E" * 32, "tls-server-end-point": b"S" * 32}
USER, PASSWORD = "juliet", "r0m30myr0m30"


@pytest.fixture
def scramp_tls_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    """scramp 1.5 refuses the tls-exporter name although the data is just bytes: allow it."""
    monkeypatch.setattr(scramp_core.CbName, "SUPPORTED_TYPES",
                        scramp_core.CbName.SUPPORTED_TYPES | {"tls-exporter"})
    monkeypatch.setattr(scramp_core.CbName, "UNSUPPORTED_TYPES", frozenset())


@pytest.fixture(scope="module")
def creds() -> dict[str, ScramCredentials]:
    return {h: make_scram_credentials(PASSWORD, h) for h in HASHES}


def _exchange(mechanism: str, client: ScramClient, creds: ScramCredentials | None,
              bindings: dict[str, bytes]) -> Step:
    """Run one SCRAM exchange to its end; returns the server's last step."""
    server = SaslServer(mechanism, channel_bindings=bindings)
    step = server.start(client.get_client_first().encode())
    if not isinstance(step, NeedCredentials):
        return step
    step = server.provide_credentials(creds)
    assert isinstance(step, Challenge)
    client.set_server_first(step.data.decode())
    return server.respond(client.get_client_final().encode())


def _mech(hash_name: str, plus: bool = False) -> str:
    return f"SCRAM-{hash_name}" + ("-PLUS" if plus else "")


# -- credentials ---------------------------------------------------------------------

@pytest.mark.parametrize("hash_name", HASHES)
def test_credentials_match_scramp(hash_name: str) -> None:
    salt = b"0123456789abcdef"
    ours = make_scram_credentials(PASSWORD, hash_name, iterations=4096, salt=salt)
    theirs = ScramMechanism(_mech(hash_name)).make_auth_info(PASSWORD, iteration_count=4096, salt=salt)
    assert (ours.salt, ours.stored_key, ours.server_key, ours.iterations) == theirs


def test_credentials_are_salted_freshly() -> None:
    a, b = make_scram_credentials(PASSWORD, "SHA-256"), make_scram_credentials(PASSWORD, "SHA-256")
    assert a.salt != b.salt and a.stored_key != b.stored_key
    assert len(a.salt) >= 16 and a.iterations == 4096


@pytest.mark.parametrize("hash_name", HASHES)
def test_check_password(creds: dict[str, ScramCredentials], hash_name: str) -> None:
    assert check_password(PASSWORD, creds[hash_name], hash_name)
    assert not check_password(PASSWORD + "x", creds[hash_name], hash_name)
    assert not check_password("", creds[hash_name], hash_name)


def test_password_is_prepared_with_opaquestring() -> None:
    # RFC 8265 §4.2.1: non-ASCII spaces map to U+0020, then NFC.
    stored = make_scram_credentials("a b\u00e9", "SHA-256", salt=b"s" * 16)
    assert check_password("a\u00a0be\u0301", stored, "SHA-256")
    with pytest.raises(ValueError):
        make_scram_credentials("bad\x07bell", "SHA-256")
    assert not check_password("bad\x07bell", stored, "SHA-256")


def test_unknown_hash_is_refused(creds: dict[str, ScramCredentials]) -> None:
    with pytest.raises(ValueError):
        make_scram_credentials(PASSWORD, "MD5")
    with pytest.raises(ValueError):
        check_password(PASSWORD, creds["SHA-256"], "SHA-512")


# -- what is offered --------------------------------------------------------------------

def test_mechanisms_offered_order() -> None:
    assert mechanisms_offered(is_secure=True, allow_plain=True, channel_binding_types=["tls-exporter"]) == [
        "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    assert mechanisms_offered(is_secure=True, allow_plain=False, channel_binding_types=[]) == [
        "SCRAM-SHA-256", "SCRAM-SHA-1"]
    assert mechanisms_offered(is_secure=False, allow_plain=True, channel_binding_types=iter(())) == [
        "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]


def test_plus_needs_a_secure_stream() -> None:
    assert "SCRAM-SHA-256-PLUS" not in mechanisms_offered(
        is_secure=False, allow_plain=False, channel_binding_types=["tls-server-end-point"])


@pytest.mark.parametrize("name", ["DIGEST-MD5", "SCRAM-MD5", "SCRAM-SHA-512", "", "plain", "X-OAUTH2"])
def test_unknown_mechanism(name: str) -> None:
    with pytest.raises(SaslError) as err:
        SaslServer(name, channel_bindings={})
    assert err.value.condition == "invalid-mechanism"


def test_plus_without_bindings_is_invalid_mechanism() -> None:
    with pytest.raises(SaslError) as err:
        SaslServer("SCRAM-SHA-256-PLUS", channel_bindings={})
    assert err.value.condition == "invalid-mechanism"


# -- base64 (RFC 6120 §6.4.2) ---------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    (None, b""), ("", b""), ("=", b""), ("AGp1bGlldABw", b"\x00juliet\x00p"), ("  cGVuY2ls\n", b"pencil"),
])
def test_decode_payload(text: str | None, expected: bytes) -> None:
    assert decode_payload(text) == expected


@pytest.mark.parametrize("text", ["abc", "!!!!", "cGVu Y2ls", "cGVuY2ls=", "====", "zé=="])
def test_decode_payload_rejects_bad_base64(text: str) -> None:
    with pytest.raises(SaslError) as err:
        decode_payload(text)
    assert err.value.condition == "incorrect-encoding"


# -- SCRAM without channel binding ------------------------------------------------------------

@pytest.mark.parametrize("hash_name", HASHES)
def test_scram_exchange(creds: dict[str, ScramCredentials], hash_name: str) -> None:
    client = ScramClient([_mech(hash_name)], USER, PASSWORD)
    step = _exchange(_mech(hash_name), client, creds[hash_name], {})
    assert isinstance(step, Success)
    assert (step.username, step.authzid) == (USER, None)
    client.set_server_final(step.data.decode())  # raises unless ServerSignature verifies


@pytest.mark.parametrize("hash_name", HASHES)
def test_scram_asks_for_the_right_hash(creds: dict[str, ScramCredentials], hash_name: str) -> None:
    client = ScramClient([_mech(hash_name)], "romeo", PASSWORD)
    step = SaslServer(_mech(hash_name), channel_bindings={}).start(client.get_client_first().encode())
    assert step == NeedCredentials("romeo", hash_name)


def test_scram_without_initial_response(creds: dict[str, ScramCredentials]) -> None:
    client = ScramClient(["SCRAM-SHA-256"], USER, PASSWORD)
    server = SaslServer("SCRAM-SHA-256", channel_bindings={})
    assert server.start(None) == Challenge(b"")
    assert isinstance(server.respond(client.get_client_first().encode()), NeedCredentials)
    step = server.provide_credentials(creds["SHA-256"])
    client.set_server_first(step.data.decode())
    step = server.respond(client.get_client_final().encode())
    assert isinstance(step, Success)
    client.set_server_final(step.data.decode())


@pytest.mark.parametrize("hash_name", HASHES)
def test_scram_wrong_password(creds: dict[str, ScramCredentials], hash_name: str) -> None:
    client = ScramClient([_mech(hash_name)], USER, "wrong")
    assert _exchange(_mech(hash_name), client, creds[hash_name], {}) == Failure("not-authorized")


@pytest.mark.parametrize("hash_name", HASHES)
def test_scram_unknown_user_fails_only_at_the_end(hash_name: str) -> None:
    client = ScramClient([_mech(hash_name)], "nobody", PASSWORD)
    server = SaslServer(_mech(hash_name), channel_bindings={})
    assert isinstance(server.start(client.get_client_first().encode()), NeedCredentials)
    challenge = server.provide_credentials(None)
    assert isinstance(challenge, Challenge)
    client.set_server_first(challenge.data.decode())  # a well-formed server-first-message
    assert int(client.iterations) == 4096 and len(bytes(client.salt)) == 16
    assert server.respond(client.get_client_final().encode()) == Failure("not-authorized")


def test_scram_unknown_user_salt_is_stable() -> None:
    def salt_for(name: str) -> str:
        client = ScramClient(["SCRAM-SHA-256"], name, PASSWORD)
        server = SaslServer("SCRAM-SHA-256", channel_bindings={})
        server.start(client.get_client_first().encode())
        return server.provide_credentials(None).data.decode().split(",")[1]

    assert salt_for("nobody") == salt_for("nobody") != salt_for("someone")


def test_scram_one_attempt_per_exchange(creds: dict[str, ScramCredentials]) -> None:
    client = ScramClient(["SCRAM-SHA-256"], USER, PASSWORD)
    server = SaslServer("SCRAM-SHA-256", channel_bindings={})
    server.start(client.get_client_first().encode())
    client.set_server_first(server.provide_credentials(creds["SHA-256"]).data.decode())
    final = client.get_client_final().encode()
    assert isinstance(server.respond(final), Success)
    assert server.is_done
    assert server.respond(final) == Failure("malformed-request", "authentication already finished")


# -- RFC test vectors ------------------------------------------------------------------------

@pytest.mark.parametrize("hash_name,user,password,c_nonce,s_nonce,salt,client_final,server_final", [
    # RFC 5802 §5
    ("SHA-1", "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j", "QSXCR+Q6sek8bf92",
     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
     "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
    # RFC 7677 §3
    ("SHA-256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "W22ZaJ0SNY7soEsUEjb6gQ==",
     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
])
def test_rfc_vectors(monkeypatch: pytest.MonkeyPatch, hash_name: str, user: str, password: str, c_nonce: str,
                     s_nonce: str, salt: str, client_final: str, server_final: str) -> None:
    monkeypatch.setattr(sasl, "_server_nonce", lambda: s_nonce)
    stored = make_scram_credentials(password, hash_name, 4096, base64.b64decode(salt))
    server = SaslServer(_mech(hash_name), channel_bindings={})
    assert server.start(f"n,,n={user},r={c_nonce}".encode()) == NeedCredentials(user, hash_name)
    assert server.provide_credentials(stored) == Challenge(f"r={c_nonce}{s_nonce},s={salt},i=4096".encode())
    assert server.respond(client_final.encode()) == Success(server_final.encode(), user, None)


# -- channel binding (RFC 5802 §6) --------------------------------------------------------------

@pytest.mark.parametrize("hash_name", HASHES)
@pytest.mark.parametrize("cb_type", ["tls-exporter", "tls-server-end-point"])
def test_scram_plus(creds: dict[str, ScramCredentials], scramp_tls_exporter: None, hash_name: str,
                    cb_type: str) -> None:
    client = ScramClient([_mech(hash_name, plus=True)], USER, PASSWORD, channel_binding=(cb_type, BINDINGS[cb_type]))
    step = _exchange(_mech(hash_name, plus=True), client, creds[hash_name], BINDINGS)
    assert isinstance(step, Success)
    client.set_server_final(step.data.decode())
    assert client.gs2_header.gs2_char == "p" and str(client.gs2_header.cb_name) == cb_type


@pytest.mark.parametrize("cb_type", ["tls-exporter", "tls-server-end-point"])
def test_scram_plus_wrong_binding_data(creds: dict[str, ScramCredentials], scramp_tls_exporter: None,
                                       cb_type: str) -> None:
    # A man in the middle terminates TLS: the client's bindings differ from ours.
    client = ScramClient(["SCRAM-SHA-256-PLUS"], USER, PASSWORD, channel_binding=(cb_type, b"M" * 32))
    step = _exchange("SCRAM-SHA-256-PLUS", client, creds["SHA-256"], BINDINGS)
    assert step == Failure("not-authorized", "channel binding mismatch")


def test_scram_plus_binding_type_we_lack(creds: dict[str, ScramCredentials], scramp_tls_exporter: None) -> None:
    client = ScramClient(["SCRAM-SHA-256-PLUS"], USER, PASSWORD, channel_binding=("tls-exporter", b"E" * 32))
    only_end_point = {"tls-server-end-point": BINDINGS["tls-server-end-point"]}
    step = _exchange("SCRAM-SHA-256-PLUS", client, creds["SHA-256"], only_end_point)
    assert isinstance(step, Failure) and step.condition == "not-authorized"


def test_scram_plus_unknown_binding_type() -> None:
    step = SaslServer("SCRAM-SHA-256-PLUS", channel_bindings=BINDINGS).start(b"p=tls-unique,,n=juliet,r=abcdef")
    assert isinstance(step, Failure) and step.condition == "not-authorized"


@pytest.mark.parametrize("flag", ["n", "y"])
def test_scram_plus_without_binding_flag(flag: str) -> None:
    step = SaslServer("SCRAM-SHA-256-PLUS", channel_bindings=BINDINGS).start(f"{flag},,n=juliet,r=abcdef".encode())
    assert isinstance(step, Failure) and step.condition == "not-authorized"


@pytest.mark.parametrize("hash_name", HASHES)
def test_downgrade_is_detected(creds: dict[str, ScramCredentials], hash_name: str) -> None:
    # The client supports channel binding but saw no -PLUS (stripped by an attacker): it
    # sends "y"; we did offer -PLUS, so we must fail (RFC 5802 §6).
    client = ScramClient([_mech(hash_name)], USER, PASSWORD,
                         channel_binding=("tls-server-end-point", BINDINGS["tls-server-end-point"]))
    first = client.get_client_first()
    assert first.startswith("y,,")
    server = SaslServer(_mech(hash_name), channel_bindings=BINDINGS)
    step = server.start(first.encode())
    assert step == Failure("not-authorized", "channel binding is supported: downgrade detected")


def test_y_flag_is_fine_when_we_offered_no_plus(creds: dict[str, ScramCredentials]) -> None:
    client = ScramClient(["SCRAM-SHA-256"], USER, PASSWORD, channel_binding=("tls-server-end-point", b"S" * 32))
    step = _exchange("SCRAM-SHA-256", client, creds["SHA-256"], {})
    assert isinstance(step, Success)
    client.set_server_final(step.data.decode())


def test_n_flag_is_fine_when_we_offered_plus(creds: dict[str, ScramCredentials]) -> None:
    # A client without channel-binding support may pick plain SCRAM even on TLS.
    client = ScramClient(["SCRAM-SHA-256"], USER, PASSWORD)
    assert isinstance(_exchange("SCRAM-SHA-256", client, creds["SHA-256"], BINDINGS), Success)


def test_p_flag_with_non_plus_mechanism_is_malformed() -> None:
    step = SaslServer("SCRAM-SHA-256", channel_bindings=BINDINGS).start(b"p=tls-exporter,,n=juliet,r=abcdef")
    assert isinstance(step, Failure) and step.condition == "malformed-request"


# -- authzid and names (RFC 5802 §5.1), with a hand-built client --------------------------------------

def _manual_client_final(hash_name: str, password: str, gs2: bytes, client_first_bare: str, server_first: str,
                         cb_data: bytes = b"", extensions: str = "") -> tuple[str, str]:
    """RFC 5802 §3 computed with hashlib/hmac only: (client-final-message, expected v=)."""
    hf = {"SHA-1": hashlib.sha1, "SHA-256": hashlib.sha256}[hash_name]
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(hf().name, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hf).digest()
    server_key = hmac.new(salted, b"Server Key", hf).digest()
    without_proof = f"c={base64.b64encode(gs2 + cb_data).decode()},r={attrs['r']}{extensions}"
    auth = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hf(client_key).digest(), auth, hf).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_sig = hmac.new(server_key, auth, hf).digest()
    return f"{without_proof},p={base64.b64encode(proof).decode()}", f"v={base64.b64encode(server_sig).decode()}"


@pytest.mark.parametrize("hash_name", HASHES)
def test_scram_with_authzid_and_escaped_names(hash_name: str) -> None:
    user = "ju,li=et"
    stored = make_scram_credentials(PASSWORD, hash_name)
    gs2 = b"n,a=admin=40example.org=2C=3Dx,"  # "=40" is not an escape: must be refused
    server = SaslServer(_mech(hash_name), channel_bindings={})
    assert server.start(gs2 + b"n=ju=2Cli=3Det,r=abc").condition == "malformed-request"

    gs2 = b"n,a=romeo@example.org=2C=3Dx,"
    bare = "n=ju=2Cli=3Det,r=abcdefgh"
    server = SaslServer(_mech(hash_name), channel_bindings={})
    assert server.start(gs2 + bare.encode()) == NeedCredentials(user, hash_name)
    server_first = server.provide_credentials(stored).data.decode()
    final, expected_v = _manual_client_final(hash_name, PASSWORD, gs2, bare, server_first)
    assert server.respond(final.encode()) == Success(expected_v.encode(), user, "romeo@example.org,=x")


def test_scram_plus_with_authzid_binds_the_whole_gs2_header() -> None:
    stored = make_scram_credentials(PASSWORD, "SHA-256")
    gs2, bare = b"p=tls-exporter,a=juliet@example.com,", "n=juliet,r=nonce123"
    server = SaslServer("SCRAM-SHA-256-PLUS", channel_bindings=BINDINGS)
    assert isinstance(server.start(gs2 + bare.encode()), NeedCredentials)
    server_first = server.provide_credentials(stored).data.decode()
    final, v = _manual_client_final("SHA-256", PASSWORD, gs2, bare, server_first, BINDINGS["tls-exporter"])
    assert server.respond(final.encode()) == Success(v.encode(), "juliet", "juliet@example.com")


def test_scram_extensions_are_tolerated() -> None:
    # RFC 5802 §7: unknown optional extensions after the nonce are ignored.
    stored = make_scram_credentials(PASSWORD, "SHA-1")
    gs2, bare = b"n,,", "n=juliet,r=nonce123,x=whatever"
    server = SaslServer("SCRAM-SHA-1", channel_bindings={})
    assert isinstance(server.start(gs2 + bare.encode()), NeedCredentials)
    server_first = server.provide_credentials(stored).data.decode()
    final, v = _manual_client_final("SHA-1", PASSWORD, gs2, bare, server_first, extensions=",y=ext")
    assert server.respond(final.encode()) == Success(v.encode(), "juliet", None)


# -- malformed SCRAM messages --------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    b"", b"n", b"n,,", b"x,,n=juliet,r=abc", b"p=,,n=juliet,r=abc", b"n,b=x,n=juliet,r=abc", b"n,a=,n=juliet,r=abc",
    b"n,,r=abc,n=juliet", b"n,,n=,r=abc", b"n,,n=jul=iet,r=abc", b"n,,n=juliet", b"n,,n=juliet,r=",
    b"n,,n=juliet,r=ab c", b"n,,m=ext,n=juliet,r=abc", b"n,,n=juliet,r=abc,", b"n,,n=juliet,,r=abc",
    b"n,,n=\xff\xfe,r=abc", b"n,,n=juliet,r=abc,1=x",
])
def test_malformed_client_first(message: bytes) -> None:
    step = SaslServer("SCRAM-SHA-256", channel_bindings={}).start(message)
    assert isinstance(step, Failure) and step.condition == "malformed-request", step


def _server_after_first(creds: ScramCredentials) -> tuple[SaslServer, str]:
    server = SaslServer("SCRAM-SHA-256", channel_bindings={})
    server.start(b"n,,n=juliet,r=abcdef")
    return server, server.provide_credentials(creds).data.decode()


@pytest.mark.parametrize("make_final,condition", [
    (lambda nonce: b"", "malformed-request"),
    (lambda nonce: f"c=biws,r={nonce}".encode(), "malformed-request"),
    (lambda nonce: f"r={nonce},c=biws,p=AAAA".encode(), "malformed-request"),
    (lambda nonce: f"c=biws,r={nonce},p=!!!".encode(), "malformed-request"),
    (lambda nonce: f"c=b!ws,r={nonce},p=AAAA".encode(), "malformed-request"),
    (lambda nonce: b"c=biws,r=abcdefOTHER,p=AAAA", "not-authorized"),
    (lambda nonce: f"c=eSws,r={nonce},p=AAAA".encode(), "not-authorized"),  # "y,," instead of "n,,"
    (lambda nonce: f"c=biws,r={nonce},p=AAAA".encode(), "not-authorized"),  # proof of the wrong length
])
def test_malformed_or_forged_client_final(creds: dict[str, ScramCredentials], make_final, condition: str) -> None:
    server, server_first = _server_after_first(creds["SHA-256"])
    nonce = server_first.split(",")[0][2:]
    step = server.respond(make_final(nonce))
    assert isinstance(step, Failure) and step.condition == condition, step
    assert server.is_done


def test_response_before_credentials_is_malformed() -> None:
    server = SaslServer("SCRAM-SHA-256", channel_bindings={})
    assert isinstance(server.start(b"n,,n=juliet,r=abcdef"), NeedCredentials)
    step = server.respond(b"c=biws,r=abcdef,p=AAAA")
    assert isinstance(step, Failure) and step.condition == "malformed-request"


def test_driver_misuse_raises() -> None:
    server = SaslServer("SCRAM-SHA-256", channel_bindings={})
    with pytest.raises(RuntimeError):
        server.respond(b"x")
    server.start(None)
    with pytest.raises(RuntimeError):
        server.start(None)
    with pytest.raises(RuntimeError):
        server.password_checked(True)


def test_abort() -> None:
    server = SaslServer("SCRAM-SHA-1", channel_bindings={})
    server.start(b"n,,n=juliet,r=abcdef")
    assert server.abort() == Failure("aborted")
    assert server.is_done


# -- PLAIN (RFC 4616) -----------------------------------------------------------------------------

def _plain(initial: bytes | None, ok: bool | None = None, respond: bytes | None = None) -> list[Step]:
    server = SaslServer("PLAIN", channel_bindings=BINDINGS)
    steps = [server.start(initial)]
    if respond is not None:
        steps.append(server.respond(respond))
    if ok is not None:
        steps.append(server.password_checked(ok))
    return steps


def test_plain_good_password(creds: dict[str, ScramCredentials]) -> None:
    need, done = _plain(f"\x00{USER}\x00{PASSWORD}".encode(), ok=check_password(PASSWORD, creds["SHA-256"], "SHA-256"))
    assert need == NeedPasswordCheck(USER, PASSWORD, None)
    assert done == Success(None, USER, None)


def test_plain_bad_password(creds: dict[str, ScramCredentials]) -> None:
    need, done = _plain(f"\x00{USER}\x00nope".encode(), ok=check_password("nope", creds["SHA-256"], "SHA-256"))
    assert need == NeedPasswordCheck(USER, "nope", None)
    assert done == Failure("not-authorized")


def test_plain_with_authzid() -> None:
    need, done = _plain("juliet@example.com\x00juliet\x00pässwörd".encode(), ok=True)
    assert need == NeedPasswordCheck("juliet", "pässwörd", "juliet@example.com")
    assert done == Success(None, "juliet", "juliet@example.com")


def test_plain_without_initial_response() -> None:
    challenge, need, done = _plain(None, respond=b"\x00juliet\x00secret", ok=True)
    assert challenge == Challenge(b"")
    assert need == NeedPasswordCheck("juliet", "secret", None)
    assert done == Success(None, "juliet", None)


@pytest.mark.parametrize("message", [
    b"", b"juliet", b"juliet\x00secret", b"\x00\x00secret", b"\x00juliet\x00", b"a\x00b\x00c\x00d",
    b"\x00jul\xffiet\x00secret",
])
def test_plain_malformed(message: bytes) -> None:
    (step,) = _plain(message)
    assert isinstance(step, Failure) and step.condition == "malformed-request", step


def test_plain_second_response_is_malformed() -> None:
    server = SaslServer("PLAIN", channel_bindings={})
    assert isinstance(server.start(b"\x00juliet\x00secret"), NeedPasswordCheck)
    step = server.respond(b"\x00juliet\x00secret")
    assert isinstance(step, Failure) and step.condition == "malformed-request"


def test_sasl_error_carries_condition_and_text() -> None:
    err = SaslError("not-authorized", "nope")
    assert (err.condition, err.text, str(err)) == ("not-authorized", "nope", "not-authorized: nope")
