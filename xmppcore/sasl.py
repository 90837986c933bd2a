"""SASL server mechanisms, sans-I/O (RFC 6120 §6): SCRAM (RFC 5802, RFC 7677) and PLAIN (RFC 4616).

The driver creates one `SaslServer` per `<auth/>`, feeds it decoded payloads and acts on
the `Step` each call returns:

* `Challenge` - send `<challenge/>` with the data;
* `NeedCredentials` - look up the user's SCRAM credentials, then `provide_credentials`;
* `NeedPasswordCheck` - verify a PLAIN password (see `check_password`), then `password_checked`;
* `Success` - send `<success/>` (with the SCRAM server-final data) and restart the stream;
* `Failure` - send `<failure/>` with the RFC 6120 §6.5 condition.

The SCRAM arithmetic (Hi, HMAC, H, XOR) comes from `scramp`; the message handling is ours
because the XMPP profile needs what scramp's server lacks: a GS2 authzid (RFC 5802 §5.1
"a="), the `tls-exporter` binding (RFC 9266) and a credentials look-up that may wait on
the database between two messages.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import hmac as _hmac
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable, Union

from precis_i18n import get_profile
from scramp.utils import h as _h
from scramp.utils import hi as _hi
from scramp.utils import hmac as _hmac_digest
from scramp.utils import xor as _xor

# RFC 6120 §6.5: every defined SASL failure condition.
SASL_CONDITIONS = frozenset(
    {
        "aborted", "account-disabled", "credentials-expired", "encryption-required",
        "incorrect-encoding", "invalid-authzid", "invalid-mechanism", "malformed-request",
        "mechanism-too-weak", "not-authorized", "temporary-auth-failure",
    }
)

# RFC 5802 §5 (SHA-1) and RFC 7677 (SHA-256): IANA hash name -> hashlib constructor.
HASHES: dict[str, Callable[..., "hashlib._Hash"]] = {
    "SHA-1": hashlib.sha1,
    "SHA-256": hashlib.sha256,
}
# Strongest first: the order in which we advertise them (RFC 6120 §6.3.3: order of preference).
_SCRAM_ORDER = ("SHA-256", "SHA-1")
DEFAULT_ITERATIONS = 4096  # RFC 7677 §4: at least 4096
_MAX_ITERATIONS = 10_000_000  # a stored count above this is corrupt, not strong
_SALT_BYTES = 16
_NONCE_BYTES = 24

# RFC 8265 §4.2 (which obsoletes RFC 7613): the PRECIS profile SASL mechanisms use for
# passwords, successor of SASLprep (RFC 4013). For ASCII passwords the two agree.
_PASSWORD_PROFILE = get_profile("OpaqueString")


# -- credentials -----------------------------------------------------------------

@dataclass(frozen=True)
class ScramCredentials:
    """What the server stores for one user and one hash (RFC 5802 §3): never the password."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def _hash(hash_name: str) -> Callable[..., "hashlib._Hash"]:
    try:
        return HASHES[hash_name]
    except KeyError:
        raise ValueError(f"unsupported SCRAM hash {hash_name!r}") from None


def prepare_password(password: str) -> str:
    """The password as SCRAM and PLAIN compare it (RFC 8265 §4.2 OpaqueString).

    Raises ValueError for a password PRECIS rejects (empty, control characters, ...).
    """
    return _PASSWORD_PROFILE.enforce(password)


def _salted_password(password: str, hash_name: str, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i)."""
    prepped = prepare_password(password).encode("utf-8")
    return _hi(_hash(hash_name), prepped, salt, iterations)


def _keys_from_salted(salted: bytes, hash_name: str) -> tuple[bytes, bytes, bytes]:
    """RFC 5802 §3: ClientKey, StoredKey := H(ClientKey), ServerKey."""
    hf = _hash(hash_name)
    client_key = _hmac_digest(hf, salted, b"Client Key")
    return client_key, _h(hf, client_key), _hmac_digest(hf, salted, b"Server Key")


def make_scram_credentials(password: str, hash_name: str, iterations: int = DEFAULT_ITERATIONS,
                           salt: bytes | None = None) -> ScramCredentials:
    """Derive the stored SCRAM credentials for `password` (RFC 5802 §3).

    `hash_name` is "SHA-1" or "SHA-256". Raises ValueError for a password that
    OpaqueString rejects, an unknown hash or an iteration count below 1.
    """
    _hash(hash_name)
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise ValueError(f"iteration count {iterations} out of range")
    if salt is None:
        salt = secrets.token_bytes(_SALT_BYTES)
    salted = _salted_password(password, hash_name, salt, iterations)
    _, stored_key, server_key = _keys_from_salted(salted, hash_name)
    return ScramCredentials(salt, iterations, stored_key, server_key)


def check_password(password: str, creds: ScramCredentials, hash_name: str) -> bool:
    """Whether `password` matches stored SCRAM credentials (used to verify PLAIN).

    Recomputes StoredKey and compares in constant time; a password that PRECIS
    rejects simply does not match.
    """
    _hash(hash_name)  # an unknown hash is a caller bug, not a wrong password
    if not 1 <= creds.iterations <= _MAX_ITERATIONS:
        return False
    try:
        salted = _salted_password(password, hash_name, creds.salt, creds.iterations)
    except ValueError:
        return False
    _, stored_key, _ = _keys_from_salted(salted, hash_name)
    return _hmac.compare_digest(stored_key, creds.stored_key)


# -- what to offer -----------------------------------------------------------------

def mechanisms_offered(*, is_secure: bool, allow_plain: bool,
                       channel_binding_types: Iterable[str]) -> list[str]:
    """The `<mechanisms/>` list, most preferred first (RFC 6120 §6.4.1).

    The -PLUS variants need channel bindings, which exist only on a TLS stream. Whether
    PLAIN may be offered on an unencrypted stream is the caller's policy (`allow_plain`).
    """
    with_cb = is_secure and any(True for _ in channel_binding_types)
    names: list[str] = []
    if with_cb:
        names += [f"SCRAM-{h}-PLUS" for h in _SCRAM_ORDER]
    names += [f"SCRAM-{h}" for h in _SCRAM_ORDER]
    if allow_plain:
        names.append("PLAIN")
    return names


# -- steps -------------------------------------------------------------------------

@dataclass
class Challenge:
    data: bytes


@dataclass
class Success:
    data: bytes | None
    username: str
    authzid: str | None


@dataclass
class Failure:
    condition: str
    text: str | None = None


@dataclass
class NeedCredentials:
    username: str
    hash_name: str


@dataclass
class NeedPasswordCheck:
    username: str
    password: str
    authzid: str | None


Step = Union[Challenge, Success, Failure, NeedCredentials, NeedPasswordCheck]


class SaslError(Exception):
    """A SASL failure detected outside a mechanism (bad base64, unknown mechanism)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        assert condition in SASL_CONDITIONS, condition
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


class _Malformed(Exception):
    """Internal: a SCRAM/PLAIN message that breaks its grammar (-> malformed-request)."""


class _Refused(Exception):
    """Internal: a well-formed message we must refuse (-> not-authorized)."""


def decode_payload(text: str | None) -> bytes:
    """Decode the character data of `<auth/>` or `<response/>` (RFC 6120 §6.4.2).

    "=" is a present-but-empty response; no text at all decodes to b"" as well (the
    driver tells "no initial response" apart by passing None to `SaslServer.start`).
    Base64 must be RFC 4648 §4 without line breaks; anything else is incorrect-encoding.
    """
    if text is None:
        return b""
    text = text.strip()
    if text in ("", "="):
        return b""
    data = _b64decode(text)
    if data is None:
        raise SaslError("incorrect-encoding", "payload is not valid base64")
    return data


def _b64decode(text: str) -> bytes | None:
    """RFC 4648 §4 base64, strictly: alphabet only, whole quanta, padding only at the end."""
    if not text.isascii() or len(text) % 4:
        return None
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _failure(exc: Exception) -> Failure:
    if isinstance(exc, _Refused):
        return Failure("not-authorized", str(exc) or None)
    return Failure("malformed-request", str(exc) or None)


# -- the GS2 header and SCRAM attributes (RFC 5802 §7) -----------------------------

@dataclass(frozen=True)
class _Gs2:
    flag: str  # "n", "y" or "p"
    cb_name: str | None
    authzid: str | None
    raw: bytes  # the header exactly as sent: it is part of the cbind-input


def _decode_saslname(value: str) -> str:
    """RFC 5802 §5.1: "=2C" is ',', "=3D" is '='; any other '=' is malformed."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "=":
            code = value[i + 1:i + 3]
            if code not in ("2C", "3D"):
                raise _Malformed("bad '=' escape in name")
            out.append("," if code == "2C" else "=")
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed("message is not UTF-8") from None


def _parse_gs2(message: str) -> tuple[_Gs2, str]:
    """Split client-first-message into its GS2 header and client-first-message-bare."""
    parts = message.split(",", 2)
    if len(parts) != 3:
        raise _Malformed("missing GS2 header")
    flag_part, authz_part, bare = parts
    if flag_part in ("n", "y"):
        flag, cb_name = flag_part, None
    elif flag_part.startswith("p=") and len(flag_part) > 2:
        flag, cb_name = "p", flag_part[2:]
        # RFC 5056 §7: cb-name is 1*(ALPHA / DIGIT / "." / "-")
        if not all(c.isascii() and (c.isalnum() or c in ".-") for c in cb_name):
            raise _Malformed("bad channel binding name")
    else:
        raise _Malformed("bad GS2 channel binding flag")
    authzid = None
    if authz_part:
        if not authz_part.startswith("a=") or len(authz_part) == 2:
            raise _Malformed("bad GS2 authzid")
        authzid = _decode_saslname(authz_part[2:])
    raw = f"{flag_part},{authz_part},".encode("utf-8")
    return _Gs2(flag, cb_name, authzid, raw), bare


def _attributes(message: str) -> list[tuple[str, str]]:
    """RFC 5802 §7: attr-val *("," attr-val), each attr a single ASCII letter."""
    attrs = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=" or not (part[0].isascii() and part[0].isalpha()):
            raise _Malformed("bad SCRAM attribute")
        attrs.append((part[0], part[2:]))
    return attrs


def _is_printable_nonce(value: str) -> bool:
    # RFC 5802 §7: printable = %x21-2B / %x2D-7E (ASCII graphic characters except ',')
    return bool(value) and all("\x21" <= c <= "\x7e" for c in value)


def _parse_client_first_bare(bare: str) -> tuple[str, str]:
    """client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]."""
    attrs = _attributes(bare)
    if attrs and attrs[0][0] == "m":
        # RFC 5802 §5.1: an unknown mandatory extension MUST make authentication fail.
        raise _Malformed("unsupported mandatory SCRAM extension")
    if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r":
        raise _Malformed("client-first-message must start with n= and r=")
    username = _decode_saslname(attrs[0][1])
    nonce = attrs[1][1]
    if not username:
        raise _Malformed("empty username")
    if not _is_printable_nonce(nonce):
        raise _Malformed("bad client nonce")
    return username, nonce


@dataclass(frozen=True)
class _ClientFinal:
    channel_binding: str
    nonce: str
    proof: str
    without_proof: str


def _parse_client_final(message: str) -> _ClientFinal:
    """client-final-message = channel-binding "," nonce ["," extensions] "," proof."""
    attrs = _attributes(message)
    if len(attrs) < 3 or attrs[0][0] != "c" or attrs[1][0] != "r" or attrs[-1][0] != "p":
        raise _Malformed("client-final-message must be c=, r=, ..., p=")
    without_proof = message[:message.rindex(",p=")]
    return _ClientFinal(attrs[0][1], attrs[1][1], attrs[-1][1], without_proof)


def _b64decode_strict(value: str) -> bytes:
    data = _b64decode(value)
    if data is None:
        raise _Malformed("bad base64 inside SCRAM message")
    return data


# -- the mechanisms ------------------------------------------------------------------

class _Mechanism(abc.ABC):
    """One mechanism's exchange. Methods return a Step or raise _Malformed / _Refused."""

    @abc.abstractmethod
    def start(self, initial: bytes) -> Step:
        """Handle the initial response."""

    def respond(self, data: bytes) -> Step:
        raise _Malformed("unexpected response")

    def provide_credentials(self, creds: ScramCredentials | None) -> Step:
        raise RuntimeError("this mechanism does not ask for SCRAM credentials")

    def password_checked(self, ok: bool) -> Step:
        raise RuntimeError("this mechanism does not ask for a password check")


class _Plain(_Mechanism):
    """RFC 4616: message = [authzid] NUL authcid NUL passwd, in one go."""

    def __init__(self) -> None:
        self.username = ""
        self.authzid: str | None = None

    def start(self, initial: bytes) -> Step:
        parts = _utf8(initial).split("\x00")
        if len(parts) != 3:
            raise _Malformed("PLAIN wants authzid NUL authcid NUL password")
        authzid, authcid, password = parts
        if not authcid or not password:  # RFC 4616 §2: both are 1*SAFE
            raise _Malformed("empty username or password")
        self.username, self.authzid = authcid, authzid or None
        return NeedPasswordCheck(authcid, password, self.authzid)

    def password_checked(self, ok: bool) -> Step:
        if not ok:
            raise _Refused()
        return Success(None, self.username, self.authzid)


class _Scram(_Mechanism):
    """RFC 5802 server side; with channel binding (-PLUS) when `cb_required`."""

    def __init__(self, hash_name: str, cb_required: bool, channel_bindings: dict[str, bytes]) -> None:
        self.hash_name = hash_name
        self.hf = HASHES[hash_name]
        self.cb_required = cb_required
        self.channel_bindings = channel_bindings
        self.gs2: _Gs2 | None = None
        self.username = ""
        self.client_first_bare = ""
        self.nonce = ""
        self.server_first = ""
        self.creds: ScramCredentials | None = None
        self.is_fake = False
        self.fake_secret = _FAKE_SECRET  # SaslServer sets the server's persistent one
        self.fake_iterations = DEFAULT_ITERATIONS

    def start(self, initial: bytes) -> Step:
        gs2, bare = _parse_gs2(_utf8(initial))
        username, client_nonce = _parse_client_first_bare(bare)
        self._check_binding_flag(gs2)
        self.gs2, self.username, self.client_first_bare = gs2, username, bare
        self.nonce = client_nonce + _server_nonce()
        return NeedCredentials(username, self.hash_name)

    def _check_binding_flag(self, gs2: _Gs2) -> None:
        """RFC 5802 §6 and §7 (gs2-cbind-flag)."""
        if self.cb_required:
            if gs2.flag != "p":
                raise _Refused("a -PLUS mechanism needs channel binding")
            if gs2.cb_name not in self.channel_bindings:
                raise _Refused(f"channel binding type {gs2.cb_name} is not available")
        elif gs2.flag == "p":
            raise _Malformed("channel binding requested with a non-PLUS mechanism")
        elif gs2.flag == "y" and self.channel_bindings:
            # The client thinks we lack -PLUS, yet we offered it: someone stripped it
            # from our features (downgrade attack).
            raise _Refused("channel binding is supported: downgrade detected")

    def provide_credentials(self, creds: ScramCredentials | None) -> Step:
        if self.gs2 is None or self.server_first:
            raise RuntimeError("credentials are not awaited")
        if creds is None or not 1 <= creds.iterations <= _MAX_ITERATIONS:
            # No such user: carry on with credentials no password matches, so that the
            # client learns nothing until the end (no user enumeration).
            creds = _fake_credentials(self.fake_secret, self.fake_iterations, self.username, self.hash_name)
            self.is_fake = True
        self.creds = creds
        salt = base64.b64encode(creds.salt).decode("ascii")
        self.server_first = f"r={self.nonce},s={salt},i={creds.iterations}"
        return Challenge(self.server_first.encode("utf-8"))

    def respond(self, data: bytes) -> Step:
        if self.creds is None or self.gs2 is None:
            raise _Malformed("unexpected response")
        final = _parse_client_final(_utf8(data))
        self.creds, creds = None, self.creds  # one attempt per exchange
        if final.nonce != self.nonce:
            raise _Refused("nonce mismatch")
        if not _hmac.compare_digest(_b64decode_strict(final.channel_binding), self._cbind_input()):
            raise _Refused("channel binding mismatch")
        proof = _b64decode_strict(final.proof)
        auth_message = ",".join((self.client_first_bare, self.server_first, final.without_proof)).encode("utf-8")
        if not self._proof_ok(creds, auth_message, proof) or self.is_fake:
            raise _Refused()
        server_signature = _hmac_digest(self.hf, creds.server_key, auth_message)
        server_final = "v=" + base64.b64encode(server_signature).decode("ascii")
        # RFC 6120 §6.3.10: the server-final-message travels as additional data in <success/>.
        return Success(server_final.encode("ascii"), self.username, self.gs2.authzid)

    def _cbind_input(self) -> bytes:
        """RFC 5802 §7: cbind-input = gs2-header [ cbind-data ]."""
        assert self.gs2 is not None
        if self.gs2.flag == "p":
            return self.gs2.raw + self.channel_bindings[self.gs2.cb_name or ""]
        return self.gs2.raw

    def _proof_ok(self, creds: ScramCredentials, auth_message: bytes, proof: bytes) -> bool:
        """RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey."""
        client_signature = _hmac_digest(self.hf, creds.stored_key, auth_message)
        if len(proof) != len(client_signature):
            return False
        client_key = _xor(proof, client_signature)
        return _hmac.compare_digest(_h(self.hf, client_key), creds.stored_key)


def _server_nonce() -> str:
    """RFC 5802 §5.1: the server's part of the nonce, fresh and unpredictable (printable)."""
    return secrets.token_urlsafe(_NONCE_BYTES)


# A per-process secret: fake salts are stable for a name (a probe sees the same salt twice,
# as for a real user) but unpredictable from outside.
_FAKE_SECRET = secrets.token_bytes(32)


def _fake_credentials(secret: bytes, iterations: int, username: str, hash_name: str) -> ScramCredentials:
    """What an unknown user gets: a salt that is a function of the server's secret and the
    name (the same on every attempt and after a restart) and the iteration count real
    accounts get, so the server-first-message does not tell who exists."""
    seed = _hmac.new(secret, f"{hash_name}\x00{username}".encode("utf-8"), hashlib.sha256).digest()
    size = HASHES[hash_name]().digest_size
    return ScramCredentials(seed[:_SALT_BYTES], iterations,
                            secrets.token_bytes(size), secrets.token_bytes(size))


def _make_mechanism(name: str, channel_bindings: dict[str, bytes]) -> _Mechanism:
    if name == "PLAIN":
        return _Plain()
    if name.startswith("SCRAM-"):
        hash_name, plus = name[len("SCRAM-"):], False
        if hash_name.endswith("-PLUS"):
            hash_name, plus = hash_name[:-len("-PLUS")], True
        if hash_name in HASHES and (channel_bindings or not plus):
            return _Scram(hash_name, plus, channel_bindings)
    raise SaslError("invalid-mechanism", f"{name or 'no mechanism'} is not supported")


class SaslServer:
    """One authentication exchange for one mechanism (RFC 6120 §6.4).

    `channel_bindings` maps binding type ("tls-exporter", "tls-server-end-point") to its
    data for this TLS session; pass the same types that were used for
    `mechanisms_offered`, since a non-empty dict means -PLUS was offered (RFC 5802 §6).
    Once a Success or Failure has been returned the exchange is over and any further
    client response fails with malformed-request.
    """

    def __init__(self, mechanism: str, *, channel_bindings: dict[str, bytes],
                 fake_secret: bytes | None = None, fake_iterations: int = DEFAULT_ITERATIONS) -> None:
        self.mechanism = mechanism
        self._mech = _make_mechanism(mechanism, dict(channel_bindings))
        if isinstance(self._mech, _Scram):  # unknown users' parameters (no enumeration)
            self._mech.fake_secret = fake_secret or _FAKE_SECRET
            self._mech.fake_iterations = fake_iterations
        self._started = False
        self._done = False

    @property
    def is_done(self) -> bool:
        return self._done

    def start(self, initial: bytes | None) -> Step:
        """Begin with the initial response, or None when `<auth/>` carried none."""
        if self._started:
            raise RuntimeError("exchange already started")
        self._started = True
        if initial is None:
            # RFC 6120 §6.4.2 / RFC 4422 §5: both mechanisms are client-first, so an
            # empty challenge asks for the initial response.
            return Challenge(b"")
        return self._run(self._mech.start, initial)

    def respond(self, data: bytes) -> Step:
        """The decoded content of a `<response/>`."""
        if not self._started:
            raise RuntimeError("start() first")
        if self._done:
            return Failure("malformed-request", "authentication already finished")
        if self._awaiting_initial:
            return self._run(self._mech.start, data)
        return self._run(self._mech.respond, data)

    def provide_credentials(self, creds: ScramCredentials | None) -> Step:
        """Answer a NeedCredentials: the user's credentials for that hash, or None."""
        return self._run(self._mech.provide_credentials, creds)

    def password_checked(self, ok: bool) -> Step:
        """Answer a NeedPasswordCheck."""
        return self._run(self._mech.password_checked, ok)

    def abort(self) -> Failure:
        """The client sent `<abort/>` (RFC 6120 §6.4.4)."""
        self._done = True
        return Failure("aborted")

    @property
    def _awaiting_initial(self) -> bool:
        mech = self._mech
        if isinstance(mech, _Scram):
            return mech.gs2 is None
        return isinstance(mech, _Plain) and not mech.username

    def _run(self, fn: Callable[..., Step], arg: object) -> Step:
        if self._done:
            raise RuntimeError("authentication already finished")
        try:
            step = fn(arg)
        except (_Malformed, _Refused) as exc:
            step = _failure(exc)
        if isinstance(step, (Success, Failure)):
            self._done = True
        return step
