"""TLS for c2s: certificates, the server SSLContext and channel bindings.

* `ensure_certificate` finds the operator's certificate or makes (once) a self-signed
  one that names every hosted domain, so a fresh install speaks STARTTLS at once.
* `server_context` is the one SSLContext both listeners share (STARTTLS on 5222, direct
  TLS per XEP-0368 on 5223).
* `channel_bindings` gives SCRAM-*-PLUS its data: tls-server-end-point (RFC 5929 §4) and
  tls-exporter (RFC 9266). Python's ssl module has no keying-material exporter, so the
  latter calls OpenSSL's SSL_export_keying_material through ctypes, on the very SSL*
  the `_ssl` module drives, resolved in the very libssl `_ssl` links to.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import functools
import hashlib
import ipaddress
import logging
import os
import ssl
import sys
from typing import Callable, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

log = logging.getLogger(__name__)

ALPN_XMPP_CLIENT = "xmpp-client"  # XEP-0368 §3
CERT_DIR = "certs"
CERT_FILE = "selfsigned.crt"
KEY_FILE = "selfsigned.key"
CERT_LIFETIME = datetime.timedelta(days=3650)
RENEW_BEFORE = datetime.timedelta(days=30)
# RFC 6120 §13.7.1.4: id-on-xmppAddr, the otherName SAN carrying an XMPP address.
ID_ON_XMPPADDR = ObjectIdentifier("1.3.6.1.5.5.7.8.5")
# TLS 1.2 suites (TLS 1.3 suites are OpenSSL's defaults, all AEAD): forward-secret AEAD
# only, the Mozilla "intermediate" selection.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!SHA1"
EXPORTER_LABEL = b"EXPORTER-Channel-Binding"  # RFC 9266 §2
EXPORTER_LENGTH = 32  # RFC 9266 §2
# ssl.SSLObject.version() -> the wire version OpenSSL's SSL_version() returns.
_WIRE_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


# -- certificates --------------------------------------------------------------------

def ensure_certificate(data_dir: str, domains: list[str], cert_path: str = "",
                       key_path: str = "") -> tuple[str, str]:
    """Paths of (certificate chain PEM, private key PEM) for the listeners.

    Configured paths win. Otherwise a self-signed certificate lives in
    `data_dir/certs/`; it is made on first use and remade only when it no longer
    names every domain (and its `*.` wildcard) or is about to expire.
    """
    if cert_path or key_path:
        return _configured(cert_path, key_path)
    domains = [d for d in domains if d.strip()] or ["localhost"]
    directory = os.path.join(data_dir, CERT_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    cert_file, key_file = os.path.join(directory, CERT_FILE), os.path.join(directory, KEY_FILE)
    with _directory_lock(directory):
        if not _is_reusable(cert_file, key_file, domains):
            _write_self_signed(cert_file, key_file, domains)
            log.info("generated a self-signed certificate for %s in %s", ", ".join(domains), cert_file)
    return cert_file, key_file


def _configured(cert_path: str, key_path: str) -> tuple[str, str]:
    """An operator-supplied pair; a key inside the certificate file is fine too."""
    cert_path, key_path = cert_path or key_path, key_path or cert_path
    for path in {cert_path, key_path}:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"TLS file {path} does not exist")
    return cert_path, key_path


@contextlib.contextmanager
def _directory_lock(directory: str) -> Iterator[None]:
    """Serialize generation between processes starting together (one cert, one key)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: a single process is expected to start first
        yield
        return
    with open(os.path.join(directory, ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wanted_names(domains: list[str]) -> tuple[set[str], set[ipaddress._BaseAddress]]:
    """The DNS names (each domain and `*.domain`, A-labels) and IP addresses to certify."""
    dns: set[str] = set()
    ips: set[ipaddress._BaseAddress] = set()
    for domain in domains:
        domain = domain.strip().rstrip(".").lower()
        if not domain:
            continue
        try:
            ips.add(ipaddress.ip_address(domain.strip("[]")))
            continue
        except ValueError:
            pass
        # RFC 6125 §6.4.2: DNS-IDs are compared as A-labels.
        ace = domain if domain.isascii() else domain.encode("idna").decode("ascii")
        dns.update((ace, f"*.{ace}"))
    return dns, ips


def _is_reusable(cert_file: str, key_file: str, domains: list[str]) -> bool:
    if not (os.path.isfile(cert_file) and os.path.isfile(key_file)):
        return False
    try:
        with open(cert_file, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(key_file, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (ValueError, TypeError, OSError):
        return False
    if _spki(cert.public_key()) != _spki(key.public_key()):
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < datetime.datetime.now(datetime.timezone.utc):
        return False
    dns, ips = wanted_names(domains)
    have_dns, have_ips = certificate_names(cert)
    return dns <= have_dns and ips <= have_ips


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_names(cert: x509.Certificate) -> tuple[set[str], set[ipaddress._BaseAddress]]:
    """The DNS names (lowercase) and IP addresses in a certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    return dns, set(san.get_values_for_type(x509.IPAddress))


def _der_utf8string(text: str) -> bytes:
    """DER UTF8String (tag 12), the otherName value type of id-on-xmppAddr."""
    body = text.encode("utf-8")
    if len(body) < 0x80:
        length = bytes([len(body)])
    else:
        size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(size)]) + size
    return b"\x0c" + length + body


def _write_self_signed(cert_file: str, key_file: str, domains: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    dns, ips = wanted_names(domains)
    plain = sorted(n for n in dns if not n.startswith("*."))
    first = plain[0] if plain else (str(min(ips, key=str)) if ips else "localhost")
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted(dns)]
    names += [x509.IPAddress(ip) for ip in sorted(ips, key=str)]
    names += [x509.OtherName(ID_ON_XMPPADDR, _der_utf8string(n)) for n in plain]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        # clientAuth too: the same certificate authenticates us to other servers (s2s).
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_atomically(key_file, key_pem, 0o600)
    _write_atomically(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomically(path: str, data: bytes, mode: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def certificate_der(cert_path: str) -> bytes:
    """The DER of the first (leaf) certificate in a PEM chain file: what peers see."""
    with open(cert_path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())[0].public_bytes(serialization.Encoding.DER)


# -- the server context --------------------------------------------------------------

def server_context(cert: str, key: str) -> ssl.SSLContext:
    """The SSLContext for c2s listeners: TLS 1.2+, no compression, AEAD ciphers, ALPN.

    RFC 7590 §3 (and RFC 9325) for the protocol and cipher choices; XEP-0368 §3 for the
    "xmpp-client" ALPN protocol of direct TLS. A client offering other ALPN names (or
    none) is not refused: STARTTLS clients rarely send ALPN at all.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 7590 §3.3 / RFC 9325 §3.3: no TLS-level compression (CRIME); no renegotiation.
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_SINGLE_ECDH_USE | ssl.OP_NO_RENEGOTIATION
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols([ALPN_XMPP_CLIENT])
    return ctx


# -- channel bindings ------------------------------------------------------------------

def channel_bindings(ssl_object: ssl.SSLObject | ssl.SSLSocket, cert_der: bytes) -> dict[str, bytes]:
    """The channel bindings of one established TLS session, by RFC 5056 type name.

    tls-exporter is offered only on TLS 1.3 (RFC 9266 §3 allows TLS 1.2 only with the
    extended master secret, which Python cannot tell us), tls-unique only on TLS 1.2;
    tls-server-end-point whenever our certificate's signature names a single hash
    (RFC 5929 §4.1).
    """
    bindings: dict[str, bytes] = {}
    version = ssl_object.version()
    if version == "TLSv1.3":
        exported = export_keying_material(ssl_object, EXPORTER_LABEL, EXPORTER_LENGTH)
        if exported is not None:
            bindings["tls-exporter"] = exported
    elif version == "TLSv1.2":
        # RFC 5929 §3: tls-unique, what RFC 5802 clients use by default on TLS 1.2 (it is
        # undefined on TLS 1.3, RFC 9266 §1). Without it such a client fails -PLUS outright.
        unique = ssl_object.get_channel_binding("tls-unique")
        if unique:
            bindings["tls-unique"] = unique
    if cert_der:
        end_point = tls_server_end_point(cert_der)
        if end_point is not None:
            bindings["tls-server-end-point"] = end_point
    return bindings


@functools.lru_cache(maxsize=16)
def tls_server_end_point(cert_der: bytes) -> bytes | None:
    """RFC 5929 §4.1: hash of the certificate with its signature's hash, MD5/SHA-1 -> SHA-256.

    None when the signature uses no single hash (e.g. Ed25519), for which the binding
    is undefined.
    """
    algorithm = x509.load_der_x509_certificate(cert_der).signature_hash_algorithm
    if algorithm is None:
        return None
    name = algorithm.name.lower()
    if name in ("md5", "sha1"):
        name = "sha256"
    try:
        return hashlib.new(name, cert_der).digest()
    except ValueError:
        return None


def export_keying_material(ssl_object: ssl.SSLObject | ssl.SSLSocket, label: bytes, length: int) -> bytes | None:
    """TLS exporter output with no context (RFC 5705, RFC 8446 §7.5), or None if unavailable.

    Works on both ends of a connection (the tests use it on the client side).
    """
    exporter = _openssl_exporter()
    if exporter is None:
        return None
    inner = getattr(ssl_object, "_sslobj", None)
    if inner is None:  # handshake not started or connection closed
        return None
    return exporter(inner, label, length)


_Exporter = Callable[[object, bytes, int], "bytes | None"]


@functools.lru_cache(maxsize=1)
def _openssl_exporter() -> _Exporter | None:
    """Bind SSL_export_keying_material in the libssl `_ssl` uses, or None (logged once)."""
    try:
        return _bind_exporter()
    except (OSError, AttributeError, ValueError) as exc:
        log.warning("tls-exporter channel binding unavailable (%s); offering tls-server-end-point only", exc)
        return None


def _bind_exporter() -> _Exporter:
    import _ssl

    # CPython 3.8-3.13 lay out PySSLSocket as PyObject_HEAD, PyObject *Socket, SSL *ssl.
    if sys.implementation.name != "cpython" or not (3, 8) <= sys.version_info[:2] <= (3, 13):
        raise ValueError(f"unknown _ssl object layout on {sys.implementation.name} {sys.version_info[:2]}")
    # dlsym on the _ssl module's own handle searches it and then its dependencies, so
    # this is the libssl `_ssl` was linked with (or OpenSSL linked into `_ssl` itself).
    lib = ctypes.CDLL(_ssl.__file__)
    export = lib.SSL_export_keying_material
    export.restype = ctypes.c_int
    export.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                       ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    version = lib.SSL_version
    version.restype = ctypes.c_int
    version.argtypes = [ctypes.c_void_p]
    offset = object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)

    def exporter(sslobj: object, label: bytes, length: int) -> bytes | None:
        if type(sslobj) is not _ssl._SSLSocket:
            return None
        wire = _WIRE_VERSIONS.get(sslobj.version() or "")  # type: ignore[attr-defined]
        ssl_ptr = ctypes.c_void_p.from_address(id(sslobj) + offset).value
        # The pointer must be the SSL* of this very session: what OpenSSL says its
        # protocol version is must be what Python says.
        if wire is None or not ssl_ptr or version(ssl_ptr) != wire:
            return None
        out = ctypes.create_string_buffer(length)
        if export(ssl_ptr, out, length, label, len(label), None, 0, 0) != 1:
            return None
        return out.raw

    return exporter
