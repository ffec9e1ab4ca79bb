"""HTTP Digest authentication (RFC 7616) for FDSN ``queryauth``.

The FDSN web service specifications (1.2) protect ``/fdsnws/<service>/1/queryauth`` with HTTP
Digest; obspy's ``Client(base_url, user=..., password=...)`` installs urllib's
``HTTPDigestAuthHandler`` and sends dataselect requests to ``queryauth``
(``obspy/clients/fdsn/client.py``: ``_set_opener``, ``_build_url``). Here the Digest user is the
account name and the password is one of its API tokens (``idc accounts token``).

What is implemented (``[access.digest]``, :class:`pipeline.accounts.config.DigestConfig`)
------------------------------------------------------------------------------------------
* ``qop="auth"`` with ``algorithm`` MD5 and SHA-256 (RFC 7616 §3.3, §3.4.1:
  ``response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri))``); no ``-sess``
  variants, no ``auth-int``, no ``userhash`` (user names are plain ASCII). One challenge per
  algorithm, in the configured order: MD5 first by default, because urllib (obspy) reads only the
  first ``WWW-Authenticate`` field and knows MD5 (and SHA-1) only — a SHA-256 first challenge would
  make it fail. Clients that understand several challenges pick SHA-256.
* The server never holds tokens: it verifies against the HA1 values stored when a token is created
  (:mod:`pipeline.store.accounts`; password-equivalent for Digest in that realm).
* Stateless nonces: ``base64url(ms timestamp ‖ 8 random bytes ‖ HMAC-SHA256(secret, realm ‖
  timestamp ‖ random)[:16])``. A forged or malformed nonce is refused; a genuine one older than
  ``nonce_lifetime_s`` whose response is otherwise correct gets 401 with ``stale=true`` (RFC 7616
  §3.3), so clients retry without asking for the password again. The exact triple
  ``(nonce, nc, cnonce)`` is accepted once per server process within the nonce lifetime (replays
  of a captured request are refused; a process restart with a configured secret forgets them).
* ``uri`` must be the request target (RFC 7616 §3.4.6), ``realm`` the configured realm.
* All comparisons of secrets are constant time (:func:`hmac.compare_digest`). Responses, tokens
  and HA1 values never reach logs or error messages.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from pipeline.accounts.config import DigestConfig
from pipeline.errors import IdcError

#: RFC 7616 §3.3 algorithm names → hash functions (``algorithm`` is case-insensitive)
HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}

# auth-param = token BWS "=" BWS ( token / quoted-string )   (RFC 7235 §2.1)
_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')
_NC = re.compile(r"^[0-9a-fA-F]{8}$")


class DigestFailure(IdcError):
    """Digest credentials that do not authenticate. ``stale``: the response was right but the
    nonce expired (answer 401 with ``stale=true``). The message never holds secrets."""

    def __init__(self, message: str, stale: bool = False):
        super().__init__(message)
        self.stale = stale


@dataclass(frozen=True)
class DigestCredentials:
    """The parameters of an ``Authorization: Digest ...`` header (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str
    qop: str
    nc: str
    cnonce: str

    def __repr__(self) -> str:  # never show the response
        return f"DigestCredentials(username={self.username!r}, algorithm={self.algorithm!r}, uri={self.uri!r})"


def parse_authorization(params: str) -> DigestCredentials:
    """The credentials of the text after ``Digest``; :class:`DigestFailure` naming the problem."""
    out: dict[str, str] = {}
    pos, text = 0, params.strip()
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t,":  # empty list elements (RFC 7230 §7)
            pos += 1
        if pos == len(text):
            break
        mt = _PARAM.match(text, pos)
        if mt is None or mt.end() == pos:
            raise DigestFailure("Malformed HTTP Digest credentials (expected name=value pairs)")
        name, value = mt.group(1).lower(), mt.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if name in out:
            raise DigestFailure(f"Malformed HTTP Digest credentials: {name!r} given twice")
        out[name] = value
        pos = mt.end()
    if out.get("userhash", "false").lower() == "true" or "username*" in out:
        raise DigestFailure("HTTP Digest: userhash and username* are not supported; send username=\"<account>\"")
    missing = [k for k in ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce") if not out.get(k)]
    if missing:
        hint = " (qop=auth is required)" if "qop" in missing else ""
        raise DigestFailure(f"HTTP Digest credentials lack {', '.join(missing)}{hint}")
    algorithm = out.get("algorithm", "MD5").upper()
    if out["qop"].lower() != "auth":
        raise DigestFailure(f"HTTP Digest qop {out['qop'][:20]!r} is not supported (use qop=auth)")
    if not _NC.match(out["nc"]):
        raise DigestFailure("HTTP Digest nc must be 8 hexadecimal digits")
    return DigestCredentials(username=out["username"], realm=out["realm"], nonce=out["nonce"], uri=out["uri"],
                             response=out["response"], algorithm=algorithm, qop="auth", nc=out["nc"].lower(),
                             cnonce=out["cnonce"])


def expected_response(algorithm: str, ha1: str, nonce: str, nc: str, cnonce: str, qop: str, method: str,
                      uri: str) -> str:
    """Hex ``KD(HA1, nonce:nc:cnonce:qop:H(A2))`` with ``A2 = method ":" uri`` (RFC 7616 §3.4.1, 3.4.3)."""
    h = HASHES[algorithm]
    ha2 = h(f"{method}:{uri}".encode()).hexdigest()
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two strings (any characters)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


class DigestAuth:
    """Nonces, challenges and verification for one server process."""

    #: replay cache entries kept at most (oldest dropped first)
    MAX_SEEN = 100_000

    def __init__(self, cfg: DigestConfig, clock=time.time):
        self.cfg = cfg
        self._clock = clock
        self._secret = cfg.nonce_secret.encode() if cfg.nonce_secret else os.urandom(32)
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- nonces
    def _mac(self, raw: bytes) -> bytes:
        msg = b"idc-digest-nonce:" + self.cfg.realm.encode() + b":" + raw
        return hmac.new(self._secret, msg, hashlib.sha256).digest()[:16]

    def nonce(self) -> str:
        raw = int(self._clock() * 1000).to_bytes(8, "big") + os.urandom(8)
        return base64.urlsafe_b64encode(raw + self._mac(raw)).rstrip(b"=").decode()

    def nonce_age(self, nonce: str) -> float | None:
        """Seconds since ``nonce`` was issued by this service, None when it was not."""
        try:
            blob = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(blob) != 32 or not hmac.compare_digest(blob[16:], self._mac(blob[:16])):
            return None
        age = self._clock() - int.from_bytes(blob[:8], "big") / 1000.0
        return age if age > -5.0 else None  # from the future: not ours

    # ---------------------------------------------------------------- challenges
    def challenges(self, stale: bool = False) -> list[str]:
        """``WWW-Authenticate`` values: one Digest challenge per configured algorithm (RFC 7616 §3.3)."""
        out = []
        for alg in self.cfg.algorithms:
            out.append(f'Digest realm="{self.cfg.realm}", qop="auth", algorithm={alg}, nonce="{self.nonce()}"'
                       + (", stale=true" if stale else ""))
        return out

    # ---------------------------------------------------------------- verification
    def verify(self, cred: DigestCredentials, method: str, targets: tuple[str, ...], lookup):
        """The account of ``cred`` for a request ``method`` whose target is one of ``targets``.

        :param lookup: ``(user, realm, algorithm, check) → account`` that calls ``check(ha1)`` for
            the HA1 of each usable token of ``user`` and raises when none verifies
            (:func:`pipeline.store.accounts.authenticate_digest` with a session).
        :raises DigestFailure: (``stale`` set for a correct response to an expired nonce)
        """
        if cred.algorithm not in self.cfg.algorithms:
            raise DigestFailure(f"HTTP Digest algorithm {cred.algorithm[:20]!r} is not offered "
                                f"(offered: {', '.join(self.cfg.algorithms)})")
        if not _same(cred.realm, self.cfg.realm):
            raise DigestFailure(f"HTTP Digest realm is not {self.cfg.realm!r}")
        if not any(_same(cred.uri, t) for t in targets):
            raise DigestFailure("HTTP Digest uri does not match the request target")
        age = self.nonce_age(cred.nonce)
        if age is None:
            raise DigestFailure("HTTP Digest nonce was not issued by this service")

        def check(ha1: str) -> bool:
            want = expected_response(cred.algorithm, ha1, cred.nonce, cred.nc, cred.cnonce, cred.qop, method,
                                     cred.uri)
            return _same(cred.response.lower(), want)

        account = lookup(cred.username, self.cfg.realm, cred.algorithm, check)
        if age > self.cfg.nonce_lifetime_s:
            raise DigestFailure("HTTP Digest nonce expired; retry with the new nonce", stale=True)
        if not self._first_use(cred, age):
            raise DigestFailure("HTTP Digest nonce, nc and cnonce were used before (replayed request)")
        return account

    def _first_use(self, cred: DigestCredentials, age: float) -> bool:
        key = hashlib.sha256(f"{cred.nonce}\0{cred.nc}\0{cred.cnonce}".encode()).digest()
        now = self._clock()
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) >= self.MAX_SEEN):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + (self.cfg.nonce_lifetime_s - age) + 1.0
            return True


def request_targets(scope) -> tuple[str, ...]:
    """The request target as the client wrote it (``raw_path[?query]``), and the same with the
    ASGI ``root_path`` (behind a proxy that strips a prefix)."""
    qs = scope.get("query_string", b"").decode("latin-1")
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("path", "")
    out = [path + ("?" + qs if qs else "")]
    root = scope.get("root_path", "")
    if root and not path.startswith(root):
        out.append(root + out[0])
    return tuple(out)


def for_app(app) -> DigestAuth:
    """The :class:`DigestAuth` of ``app`` (made on first use from ``[access.digest]``)."""
    d = getattr(app.state, "idc_digest", None)
    if d is None:
        with _APP_LOCK:  # one secret per app, also when the first requests come at once
            d = getattr(app.state, "idc_digest", None)
            if d is None:
                d = app.state.idc_digest = DigestAuth(app.state.idc.settings.access.digest)
    return d


_APP_LOCK = threading.Lock()
