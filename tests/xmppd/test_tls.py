"""TLS: self-signed certificates, the server context, and channel bindings checked on both ends."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import os
import socket
import ssl
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from scramp import ScramClient
from scramp import core as scramp_core

from xmppcore.sasl import SaslServer, Success, make_scram_credentials
from xmppd import tls

DOMAINS = ["example.org", "chat.example.net", "bücher.example"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return tls.ensure_certificate(str(tmp_path_factory.mktemp("data")), DOMAINS)


@pytest.fixture(scope="module")
def cert_der(pair: tuple[str, str]) -> bytes:
    return tls.certificate_der(pair[0])


@pytest.fixture
def fresh_exporter():
    """Forget the cached ctypes binding before and after a test that fiddles with it."""
    tls._openssl_exporter.cache_clear()
    yield
    tls._openssl_exporter.cache_clear()


def _load(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def _client_context(cert: str, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cert)
    for name, value in versions.items():
        setattr(ctx, name, value)
    return ctx


# -- certificates -----------------------------------------------------------------------

def test_self_signed_certificate_names_every_domain(pair: tuple[str, str]) -> None:
    cert = _load(pair[0])
    dns, _ = tls.certificate_names(cert)
    assert dns == {"example.org", "*.example.org", "chat.example.net", "*.chat.example.net",
                   "xn--bcher-kva.example", "*.xn--bcher-kva.example"}
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    xmpp_addrs = {o.value for o in san.get_values_for_type(x509.OtherName) if o.type_id == tls.ID_ON_XMPPADDR}
    assert b"\x0c\x0bexample.org" in xmpp_addrs
    assert cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)


def test_key_is_private_and_matches(pair: tuple[str, str]) -> None:
    cert_file, key_file = pair
    assert os.path.basename(os.path.dirname(cert_file)) == "certs" == os.path.basename(os.path.dirname(key_file))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)


def test_certificate_verifies_for_each_domain_and_subdomain(pair: tuple[str, str]) -> None:
    for host in ("example.org", "conference.example.org", "chat.example.net", "xn--bcher-kva.example"):
        client = _client_context(pair[0])
        _handshake(tls.server_context(*pair), client, server_hostname=host)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tls.server_context(*pair), _client_context(pair[0]), server_hostname="example.com")


def test_certificate_is_reused(tmp_path) -> None:
    first = tls.ensure_certificate(str(tmp_path), ["a.example", "b.example"])
    before = open(first[0], "rb").read()
    assert tls.ensure_certificate(str(tmp_path), ["b.example", "a.example"]) == first
    assert tls.ensure_certificate(str(tmp_path), ["A.example."]) == first
    assert open(first[0], "rb").read() == before


def test_certificate_is_remade_for_a_new_domain(tmp_path) -> None:
    cert_file, _ = tls.ensure_certificate(str(tmp_path), ["a.example"])
    before = open(cert_file, "rb").read()
    cert_file, key_file = tls.ensure_certificate(str(tmp_path), ["a.example", "c.example"])
    assert open(cert_file, "rb").read() != before
    assert {"c.example", "*.c.example", "a.example"} <= tls.certificate_names(_load(cert_file))[0]
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)


def test_certificate_is_remade_when_the_key_does_not_match(tmp_path) -> None:
    cert_file, key_file = tls.ensure_certificate(str(tmp_path), ["a.example"])
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with open(key_file, "wb") as f:
        f.write(other)
    tls.ensure_certificate(str(tmp_path), ["a.example"])
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)


def test_no_domains_means_localhost(tmp_path) -> None:
    cert_file, _ = tls.ensure_certificate(str(tmp_path), [])
    assert tls.certificate_names(_load(cert_file))[0] == {"localhost", "*.localhost"}


def test_ip_domain_gets_an_ip_san(tmp_path) -> None:
    cert_file, _ = tls.ensure_certificate(str(tmp_path), ["localhost", "127.0.0.1"])
    dns, ips = tls.certificate_names(_load(cert_file))
    assert dns == {"localhost", "*.localhost"} and [str(ip) for ip in ips] == ["127.0.0.1"]


def test_configured_paths_win(tmp_path, pair: tuple[str, str]) -> None:
    assert tls.ensure_certificate(str(tmp_path), ["x.example"], *pair) == pair
    assert not os.path.exists(tmp_path / "certs")
    assert tls.ensure_certificate(str(tmp_path), [], pair[0], "") == (pair[0], pair[0])
    with pytest.raises(FileNotFoundError):
        tls.ensure_certificate(str(tmp_path), [], str(tmp_path / "missing.crt"), pair[1])


def test_certificate_der_is_the_leaf(pair: tuple[str, str]) -> None:
    with open(pair[0]) as f:
        assert tls.certificate_der(pair[0]) == ssl.PEM_cert_to_DER_cert(f.read())


# -- the server context ------------------------------------------------------------------------

def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str = "example.org",
               on_both: Callable[[ssl.SSLSocket, ssl.SSLSocket], object] | None = None) -> object:
    """Handshake over a socketpair with blocking sockets (server in a thread)."""
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    with a, b, ThreadPoolExecutor(1) as pool:
        server_future = pool.submit(server_ctx.wrap_socket, a, server_side=True)
        try:
            client = client_ctx.wrap_socket(b, server_hostname=server_hostname)
        except ssl.SSLError:
            b.close()  # let the server side see the end too
            raise
        finally:
            try:
                server = server_future.result()
            except (ssl.SSLError, OSError):
                server = None
        assert server is not None
        with server, client:
            return on_both(server, client) if on_both else None


def test_context_settings(pair: tuple[str, str]) -> None:
    ctx = tls.server_context(*pair)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    for cipher in ctx.get_ciphers():
        assert cipher["aead"], cipher["name"]


def test_context_refuses_tls_1_1(pair: tuple[str, str]) -> None:
    def old_client() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        return ctx

    # Control: this client really can speak TLS 1.1 here, with a server that allows it.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.load_cert_chain(*pair)
    try:
        version = _handshake(permissive, old_client(), on_both=lambda s, c: c.version())
    except ssl.SSLError as exc:
        pytest.skip(f"this OpenSSL cannot speak TLS 1.1 at all: {exc}")
    assert version == "TLSv1.1"
    with pytest.raises(ssl.SSLError):
        _handshake(tls.server_context(*pair), old_client())


def test_alpn_xmpp_client(pair: tuple[str, str]) -> None:
    client = _client_context(pair[0])
    client.set_alpn_protocols(["xmpp-client"])
    assert _handshake(tls.server_context(*pair), client,
                      on_both=lambda s, c: (s.selected_alpn_protocol(), c.selected_alpn_protocol())) == (
        "xmpp-client", "xmpp-client")
    # A client without ALPN (the usual STARTTLS client) is not refused.
    assert _handshake(tls.server_context(*pair), _client_context(pair[0]),
                      on_both=lambda s, c: c.selected_alpn_protocol()) is None


# -- channel bindings ---------------------------------------------------------------------------

def test_tls_server_end_point_is_the_certificate_hash(pair: tuple[str, str], cert_der: bytes) -> None:
    peer = _handshake(tls.server_context(*pair), _client_context(pair[0]),
                      on_both=lambda s, c: c.getpeercert(binary_form=True))
    assert peer == cert_der
    # RFC 5929 §4.1: our certificate is signed with ECDSA-with-SHA256, so SHA-256 of its DER.
    assert tls.tls_server_end_point(cert_der) == hashlib.sha256(peer).digest()
    assert tls.tls_server_end_point(cert_der) == bytes(scramp_core.CBindData.from_der(peer))


def _self_signed(sign_hash: hashes.HashAlgorithm | None, key=None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, sign_hash))
    return cert.public_bytes(serialization.Encoding.DER)


# A self-signed certificate signed sha1WithRSAEncryption (today's libraries refuse to make one).
SHA1_SIGNED_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBnTCCAQYCAQEwDQYJKoZIhvcNAQEFBQAwFzEVMBMGA1UEAwwMc2hhMS5leGFt
cGxlMB4XDTI2MTEyMzIwNTIwMFoXDTI2MTEyNDIwNTIwMFowFzEVMBMGA1UEAwwM
c2hhMS5leGFtcGxlMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC9lvXrH+cK
UKDPMXtjMByH2XN8XRM4eFRes9pS0hwZBuDrYRSe75W62vkXUi12TIb0jJAjdBSo
BbxlmK8XDuhEADI+dYI6hmkM5tB0F7Or/OZR8aCaVhbG7A1QrFbEO+LC1gs2wrvt
wjoXQx1351enRu68GxzT76YMzoABuHKG9QIDAQABMA0GCSqGSIb3DQEBBQUAA4GB
ACaQEZ0Ze99yJcQ01Ya29s2KMK3Tbnp7P5+olX7yKdXjCTwm7gf3LwCjeigEzbEy
+OKzQL2belDZkfyfvo50hFRTZW6QRVLzUfV23m94i2/dZl5zb2+nASKN9YHdXf6t
pR4Bfdl/SJBFn03wounvddTT458Esxd7d5m0diDpy9Az
-----END CERTIFICATE-----
"""


@pytest.mark.parametrize("sign_hash,expected", [(hashes.SHA384(), hashlib.sha384), (hashes.SHA512(), hashlib.sha512)])
def test_tls_server_end_point_uses_the_signature_hash(sign_hash: hashes.HashAlgorithm, expected) -> None:
    der = _self_signed(sign_hash)
    assert tls.tls_server_end_point(der) == expected(der).digest()


def test_tls_server_end_point_upgrades_sha1_to_sha256() -> None:
    der = ssl.PEM_cert_to_DER_cert(SHA1_SIGNED_PEM)
    assert x509.load_der_x509_certificate(der).signature_hash_algorithm.name == "sha1"
    assert tls.tls_server_end_point(der) == hashlib.sha256(der).digest()


def test_tls_server_end_point_undefined_for_ed25519() -> None:
    assert tls.tls_server_end_point(_self_signed(None, ed25519.Ed25519PrivateKey.generate())) is None


def test_bindings_equal_on_both_ends_blocking(pair: tuple[str, str], cert_der: bytes) -> None:
    def both(server: ssl.SSLSocket, client: ssl.SSLSocket) -> tuple[dict[str, bytes], bytes | None]:
        return (tls.channel_bindings(server, cert_der),
                tls.export_keying_material(client, tls.EXPORTER_LABEL, tls.EXPORTER_LENGTH))

    server_side, client_exporter = _handshake(tls.server_context(*pair), _client_context(pair[0]), on_both=both)
    assert set(server_side) == {"tls-exporter", "tls-server-end-point"}
    assert len(server_side["tls-exporter"]) == 32
    assert server_side["tls-exporter"] == client_exporter
    assert server_side["tls-server-end-point"] == hashlib.sha256(cert_der).digest()


def test_exporter_is_per_session(pair: tuple[str, str], cert_der: bytes) -> None:
    def exporter(server: ssl.SSLSocket, client: ssl.SSLSocket) -> bytes:
        return tls.channel_bindings(server, cert_der)["tls-exporter"]

    runs = {_handshake(tls.server_context(*pair), _client_context(pair[0]), on_both=exporter) for _ in range(3)}
    assert len(runs) == 3


def test_exporter_matches_pyopenssl_client(pair: tuple[str, str], cert_der: bytes) -> None:
    """An independent implementation (pyOpenSSL, cryptography's own OpenSSL) as the client."""
    SSL = pytest.importorskip("OpenSSL.SSL")
    a, b = socket.socketpair()
    a.settimeout(10)  # pyOpenSSL needs a blocking socket: b keeps no timeout
    with a, b, ThreadPoolExecutor(1) as pool:
        server_future = pool.submit(tls.server_context(*pair).wrap_socket, a, server_side=True)
        client_ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        client = SSL.Connection(client_ctx, b)
        client.set_connect_state()
        client.set_tlsext_host_name(b"example.org")
        client.do_handshake()
        theirs = client.export_keying_material(tls.EXPORTER_LABEL, 32)
        assert client.get_protocol_version_name() == "TLSv1.3"
        with server_future.result() as server:
            ours = tls.channel_bindings(server, cert_der)
    assert ours["tls-exporter"] == theirs


def test_no_exporter_on_tls_1_2_but_tls_unique(pair: tuple[str, str], cert_der: bytes) -> None:
    client = _client_context(pair[0], maximum_version=ssl.TLSVersion.TLSv1_2)
    version, ours, theirs = _handshake(
        tls.server_context(*pair), client,
        on_both=lambda s, c: (s.version(), tls.channel_bindings(s, cert_der), c.get_channel_binding("tls-unique")))
    assert version == "TLSv1.2"
    assert set(ours) == {"tls-server-end-point", "tls-unique"}
    assert ours["tls-unique"] == theirs and len(theirs) >= 12  # RFC 5929 §3: the first Finished message


async def test_bindings_equal_on_both_ends_asyncio_start_tls(pair: tuple[str, str], cert_der: bytes) -> None:
    """The STARTTLS path: asyncio server upgraded with loop.start_tls, blocking client socket."""
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Plain(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            connected.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    go = threading.Event()

    def blocking_client() -> bytes | None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            go.wait(10)  # the server is ready to upgrade (after <proceed/>, in XMPP)
            with _client_context(pair[0]).wrap_socket(raw, server_hostname="chat.example.net") as s:
                value = tls.export_keying_material(s, tls.EXPORTER_LABEL, 32)
                s.recv(1)  # wait until the server has read its bindings
                return value

    client_task = asyncio.ensure_future(asyncio.to_thread(blocking_client))
    try:
        transport = await asyncio.wait_for(connected, 10)
        go.set()
        tls_transport = await loop.start_tls(transport, transport.get_protocol(), tls.server_context(*pair),
                                             server_side=True, ssl_handshake_timeout=10)
        ssl_object = tls_transport.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        ours = tls.channel_bindings(ssl_object, cert_der)
        tls_transport.write(b"x")
        theirs = await asyncio.wait_for(client_task, 10)
        tls_transport.close()
    finally:
        server.close()
        await server.wait_closed()
    assert ours["tls-exporter"] == theirs and len(theirs) == 32
    assert ours["tls-server-end-point"] == hashlib.sha256(cert_der).digest()


@pytest.mark.parametrize("cb_type", ["tls-exporter", "tls-server-end-point"])
def test_scram_plus_over_real_tls(pair: tuple[str, str], cert_der: bytes, monkeypatch: pytest.MonkeyPatch,
                                  cb_type: str) -> None:
    """The client computes its bindings itself; our SaslServer accepts them."""
    monkeypatch.setattr(scramp_core.CbName, "SUPPORTED_TYPES", scramp_core.CbName.SUPPORTED_TYPES | {"tls-exporter"})
    monkeypatch.setattr(scramp_core.CbName, "UNSUPPORTED_TYPES", frozenset())
    creds = make_scram_credentials("pencil", "SHA-256")

    def login(server: ssl.SSLSocket, client: ssl.SSLSocket):
        if cb_type == "tls-exporter":
            data = tls.export_keying_material(client, tls.EXPORTER_LABEL, 32)
        else:
            data = bytes(scramp_core.CBindData.from_der(client.getpeercert(binary_form=True)))
        scram = ScramClient(["SCRAM-SHA-256-PLUS"], "user", "pencil", channel_binding=(cb_type, data))
        sasl = SaslServer("SCRAM-SHA-256-PLUS", channel_bindings=tls.channel_bindings(server, cert_der))
        sasl.start(scram.get_client_first().encode())
        scram.set_server_first(sasl.provide_credentials(creds).data.decode())
        step = sasl.respond(scram.get_client_final().encode())
        assert isinstance(step, Success)
        scram.set_server_final(step.data.decode())
        return step.username

    assert _handshake(tls.server_context(*pair), _client_context(pair[0]), on_both=login) == "user"


def test_without_ctypes_only_end_point_is_offered(pair: tuple[str, str], cert_der: bytes, fresh_exporter: None,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise OSError("no SSL_export_keying_material here")

    monkeypatch.setattr(tls, "_bind_exporter", broken)
    with caplog.at_level(logging.WARNING, logger="xmppd.tls"):
        for _ in range(2):
            bindings = _handshake(tls.server_context(*pair), _client_context(pair[0]),
                                  on_both=lambda s, c: tls.channel_bindings(s, cert_der))
            assert set(bindings) == {"tls-server-end-point"}
    assert len([r for r in caplog.records if "tls-exporter" in r.getMessage()]) == 1


def test_exporter_declines_foreign_objects(fresh_exporter: None) -> None:
    exporter = tls._openssl_exporter()
    assert exporter is not None
    assert exporter(object(), tls.EXPORTER_LABEL, 32) is None
