"""Accounts in the store: States, users, API tokens, request outputs (``idc accounts ...``).

The account tables and every query on them (the web service, AutoDRM and the subscriptions call
these functions; they pass their session, so the transaction stays theirs).

API tokens
----------
A token is ``idc_<id>_<secret>``: ``<id>`` is 12 hex digits (public, the look-up key, shown by
``idc accounts list``), ``<secret>`` is ``secrets.token_urlsafe(32)`` (256 random bits). Only the
id and ``SHA-256(id ":" secret)`` are stored; the token is printed once when created. A fast hash
is enough for a 256-bit random secret (no dictionary to guess from) and keeps a request cheap;
hashes are compared with :func:`hmac.compare_digest` (constant time), and an unknown id is
compared against a dummy hash so that timing does not tell whether an id exists.

HTTP Digest (FDSN ``queryauth``, RFC 7616)
------------------------------------------
Digest proves knowledge of the password without sending it, so the server needs
``HA1 = H(user ":" realm ":" token)`` (RFC 7616 §3.4.2) for every algorithm it offers. When a token
is created, its realm and HA1 for MD5 and SHA-256 are stored next to the SHA-256 hash
(migration 0005). **HA1 is password-equivalent for Digest in that realm**: whoever can read the
``api_token`` table can answer Digest challenges as the token's user (it does not reveal the token,
so it gives no Bearer/Basic access and nothing in another realm). Tokens created before 0005, or
under another ``[access.digest] realm``, have no usable HA1: they keep working with Bearer and
Basic and must be re-issued for Digest. Revocation, expiry and disabled accounts apply to Digest
as to Bearer (:func:`authenticate_digest`).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipeline.errors import IdcError
from pipeline.store import models as m

#: the roles of an account (issue 6 item 4); ``public`` is also the role of anonymous requests
ROLES = ("state_principal", "state_user", "analyst", "operator", "public")
#: roles of a State's accounts (they need a State)
STATE_ROLES = ("state_principal", "state_user")
#: roles of the IDC's own staff
IDC_ROLES = ("analyst", "operator")
#: the realm of HTTP Digest (``[access.digest] realm``) when the configuration names none
DEFAULT_DIGEST_REALM = "idc-pipeline FDSN"

TOKEN_RE = re.compile(r"^idc_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_\-]{20,200})$")
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()
STATE_CODE_RE = re.compile(r"^[A-Z]{2,3}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")


class AccountError(IdcError, ValueError):
    """A bad account operation (unknown user, duplicate name, bad role); the message says which."""


class AuthError(IdcError):
    """The credentials of a request are not valid (HTTP 401)."""


@dataclass(frozen=True)
class Account:
    """What a valid token resolves to."""

    user_id: int
    name: str
    role: str
    state: str
    state_id: int | None
    rate_per_s: float | None
    burst: int | None


def token_hash(token_id: str, secret: str) -> str:
    return hashlib.sha256(f"{token_id}:{secret}".encode()).hexdigest()


#: RFC 7616 §3.3 algorithm names → hash functions (the ``-sess`` variants are not offered)
DIGEST_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def digest_ha1(algorithm: str, user: str, realm: str, token: str) -> str:
    """Hex ``H(user ":" realm ":" token)`` (RFC 7616 §3.4.2, A1 without ``-sess``)."""
    return DIGEST_HASHES[algorithm](f"{user}:{realm}:{token}".encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
        return t.replace(tzinfo=timezone.utc)
    return t


# --------------------------------------------------------------------------- States and users
def add_state(session: Session, code: str, name: str) -> m.State:
    code = code.strip().upper()
    if not STATE_CODE_RE.match(code):
        raise AccountError(f"State code {code!r}: give an ISO 3166-1 alpha-2 or alpha-3 code (e.g. DE, DEU)")
    if not name.strip():
        raise AccountError("State name: empty")
    if session.scalar(select(m.State).where(m.State.code == code)) is not None:
        raise AccountError(f"State {code} exists already")
    st = m.State(code=code, name=name.strip())
    session.add(st)
    session.flush()
    return st


def get_user(session: Session, name: str) -> m.UserAccount:
    u = session.scalar(select(m.UserAccount).where(m.UserAccount.name == name))
    if u is None:
        raise AccountError(f"no user {name!r} (see `idc accounts list`)")
    return u


def add_user(session: Session, name: str, role: str, state: str | None = None, email: str = "",
             rate_per_s: float | None = None, burst: int | None = None) -> m.UserAccount:
    if not NAME_RE.match(name or ""):
        raise AccountError(f"user name {name!r}: 1-64 characters of letters, digits, _ . @ -")
    if role not in ROLES:
        raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
    state_id = None
    if role in STATE_ROLES:
        if not state:
            raise AccountError(f"role {role} needs --state (the user's State code)")
    if state:
        st = session.scalar(select(m.State).where(m.State.code == state.strip().upper()))
        if st is None:
            raise AccountError(f"no State {state!r} (add it with `idc accounts add-state`)")
        state_id = st.id
    if session.scalar(select(m.UserAccount).where(m.UserAccount.name == name)) is not None:
        raise AccountError(f"user {name!r} exists already")
    if rate_per_s is not None and rate_per_s < 0:
        raise AccountError("rate: must be >= 0 (0 = unlimited)")
    if burst is not None and burst < 1:
        raise AccountError("burst: must be >= 1")
    u = m.UserAccount(name=name, role=role, state_id=state_id, email=email or "", rate_per_s=rate_per_s,
                      burst=burst, active=True)
    session.add(u)
    session.flush()
    return u


def _email_is(address: str):
    """SQL: the account's e-mail address is ``address`` (case and surrounding blanks ignored)."""
    return func.lower(func.trim(m.UserAccount.email)) == address.strip().lower()


def accounts_by_email(session: Session, address: str) -> list[tuple[m.UserAccount, m.State | None]]:
    """``(account, its State or None)`` of every account (active or not) whose e-mail address is
    ``address`` (case and surrounding blanks ignored), oldest account first."""
    return [tuple(r) for r in session.execute(
        select(m.UserAccount, m.State).outerjoin(m.State, m.State.id == m.UserAccount.state_id)
        .where(_email_is(address)).order_by(m.UserAccount.id)).all()]


def email_registered(session: Session, address: str) -> bool:
    """Whether ``address`` is the e-mail address of an account (active or not)."""
    return session.scalar(select(func.count()).select_from(m.UserAccount).where(_email_is(address))) > 0


def account_email(session: Session, user_id: int | None) -> str:
    """The e-mail address of account ``user_id`` ("" when none or no such account)."""
    return session.scalar(select(m.UserAccount.email).where(m.UserAccount.id == user_id)) or ""


def state_has_active_email(session: Session, state_id: int, address: str) -> bool:
    """Whether an active account of State ``state_id`` has the e-mail address ``address``."""
    return session.scalar(select(m.UserAccount.id).where(
        m.UserAccount.state_id == state_id, m.UserAccount.active.is_(True), _email_is(address)).limit(1)) is not None


# --------------------------------------------------------------------------- tokens
def create_token(session: Session, user: str, label: str = "", expires_days: float | None = None,
                 digest_realm: str = DEFAULT_DIGEST_REALM) -> tuple[str, m.ApiToken]:
    """A new token for ``user``: returns ``(token, row)``; the token is not stored and cannot be
    shown again. The row keeps its SHA-256 hash and the Digest HA1 values for ``digest_realm``
    (``[access.digest] realm``; see the module docstring)."""
    u = get_user(session, user)
    token_id = secrets.token_hex(6)
    while session.scalar(select(m.ApiToken.id).where(m.ApiToken.token_id == token_id)) is not None:
        token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    expires = _now() + timedelta(days=expires_days) if expires_days else None
    token = f"idc_{token_id}_{secret}"
    row = m.ApiToken(token_id=token_id, user_id=u.id, hash=token_hash(token_id, secret), label=label or "",
                     expires=expires, digest_realm=digest_realm,
                     digest_ha1_md5=digest_ha1("MD5", u.name, digest_realm, token),
                     digest_ha1_sha256=digest_ha1("SHA-256", u.name, digest_realm, token))
    session.add(row)
    session.flush()
    return token, row


def revoke(session: Session, token_id: str | None = None, user: str | None = None) -> int:
    """Revoke one token (by id, or by the whole token) or every token of ``user``; returns how many."""
    q = select(m.ApiToken).where(m.ApiToken.revoked.is_(None))
    if token_id:
        mt = TOKEN_RE.match(token_id)
        q = q.where(m.ApiToken.token_id == (mt["id"] if mt else token_id))
    elif user:
        q = q.where(m.ApiToken.user_id == get_user(session, user).id)
    else:
        raise AccountError("give a token id or --user")
    rows = list(session.scalars(q))
    if token_id and not rows:
        raise AccountError(f"no active token {token_id[:16]!r}")
    for r in rows:
        r.revoked = _now()
    return len(rows)


def authenticate(session: Session, token: str) -> Account:
    """The account of ``token``; :class:`AuthError` when it is malformed, unknown, wrong, expired,
    revoked or belongs to a disabled account (one message for all: nothing to probe)."""
    mt = TOKEN_RE.match(token.strip())
    row = None
    if mt:
        row = session.execute(
            select(m.ApiToken, m.UserAccount, m.State)
            .join(m.UserAccount, m.UserAccount.id == m.ApiToken.user_id)
            .outerjoin(m.State, m.State.id == m.UserAccount.state_id)
            .where(m.ApiToken.token_id == mt["id"])).first()
    given = token_hash(mt["id"], mt["secret"]) if mt else _DUMMY_HASH
    ok = hmac.compare_digest(given, row[0].hash if row is not None else _DUMMY_HASH) and row is not None
    if ok:
        tok, user, state = row
        exp = _aware(tok.expires)
        ok = tok.revoked is None and user.active and (exp is None or exp > _now())
    if not ok:
        raise AuthError("invalid, expired or revoked API token")
    return Account(user_id=user.id, name=user.name, role=user.role, state=state.code if state else "",
                   state_id=user.state_id, rate_per_s=user.rate_per_s, burst=user.burst)


def authenticate_digest(session: Session, user: str, realm: str, algorithm: str, check) -> Account:
    """The account of a Digest ``user`` whose response verifies with the HA1 of one of its
    tokens: ``check(ha1) → bool`` computes and compares (constant time) the expected response.
    Only tokens of ``realm`` that are neither revoked nor expired, of an active account, count.
    :class:`AuthError` otherwise (one message for all). An unknown user is checked against a
    dummy HA1 so that timing does not tell whether the name exists."""
    column = {"MD5": m.ApiToken.digest_ha1_md5, "SHA-256": m.ApiToken.digest_ha1_sha256}[algorithm]
    rows = session.execute(
        select(column, m.ApiToken.expires, m.UserAccount, m.State)
        .join(m.UserAccount, m.UserAccount.id == m.ApiToken.user_id)
        .outerjoin(m.State, m.State.id == m.UserAccount.state_id)
        .where(m.UserAccount.name == user, m.UserAccount.active.is_(True), m.ApiToken.revoked.is_(None),
               m.ApiToken.digest_realm == realm, column.is_not(None))
        .order_by(m.ApiToken.id.desc())).all()
    now = _now()
    rows = [r for r in rows if r[1] is None or _aware(r[1]) > now]
    found = None
    for ha1, _exp, u, st in rows or [(DIGEST_HASHES[algorithm](b"no such user").hexdigest(), None, None, None)]:
        if check(ha1) and u is not None and found is None:
            found = (u, st)
    if found is None:
        raise AuthError("invalid HTTP Digest credentials (user name or token wrong, token expired, revoked "
                        "or created before Digest support)")
    u, st = found
    return Account(user_id=u.id, name=u.name, role=u.role, state=st.code if st else "", state_id=u.state_id,
                   rate_per_s=u.rate_per_s, burst=u.burst)


def list_accounts(session: Session) -> list[dict]:
    """States, users and their tokens (ids and dates only) as JSON-able dicts."""
    states = {s.id: s for s in session.scalars(select(m.State))}
    tokens: dict[int, list] = {}
    for t in session.scalars(select(m.ApiToken).order_by(m.ApiToken.id)):
        tokens.setdefault(t.user_id, []).append({
            "id": t.token_id, "label": t.label, "created": t.created.isoformat(timespec="seconds"),
            "expires": t.expires.isoformat(timespec="seconds") if t.expires else None,
            "revoked": t.revoked.isoformat(timespec="seconds") if t.revoked else None})
    users = []
    for u in session.scalars(select(m.UserAccount).order_by(m.UserAccount.name)):
        users.append({"name": u.name, "role": u.role, "state": states[u.state_id].code if u.state_id else "",
                      "email": u.email, "active": u.active, "rate_per_s": u.rate_per_s, "burst": u.burst,
                      "tokens": tokens.get(u.id, [])})
    return {"states": [{"code": s.code, "name": s.name} for s in sorted(states.values(), key=lambda s: s.code)],
            "users": users}


# --------------------------------------------------------------------------- request outputs
def store_output(session: Session, user_id: int, content: bytes, *, kind: str = "", product: str = "",
                 media_type: str = "application/octet-stream") -> str:
    """Keep the output of a user's request (e.g. an IMS1.0 DATA message) for later download at
    ``/accounts/1/outputs/<id>``; returns its random public id."""
    u = session.get(m.UserAccount, user_id)
    if u is None:
        raise AccountError(f"no user with id {user_id}")
    pid = secrets.token_urlsafe(18)
    session.add(m.RequestOutput(public_id=pid, user_id=u.id, state_id=u.state_id, kind=kind, product=product,
                                media_type=media_type, content=content))
    session.flush()
    return pid


def request_output(session: Session, public_id: str) -> m.RequestOutput | None:
    """The request output with public id ``public_id`` (None when there is none)."""
    return session.scalar(select(m.RequestOutput).where(m.RequestOutput.public_id == public_id))


def readable_outputs(session: Session, account_user_id: int | None, role: str, state_id: int | None) -> list:
    """Rows ``(public_id, kind, product, media_type, created, user_id)`` of the request outputs an
    account may read (as :func:`may_read_output`: analysts and operators all, others their own and
    a ``state_principal`` those of its State), oldest first."""
    R = m.RequestOutput
    q = select(R.public_id, R.kind, R.product, R.media_type, R.created, R.user_id).order_by(R.id)
    if role not in ("analyst", "operator"):
        conds = [R.user_id == account_user_id]
        if role == "state_principal" and state_id is not None:
            conds.append(R.state_id == state_id)
        q = q.where(or_(*conds))
    return session.execute(q).all()


def may_read_output(account_user_id: int | None, role: str, state_id: int | None, out: m.RequestOutput) -> bool:
    """The owner, the State principal of the owner's State, analysts and operators."""
    if role in ("analyst", "operator"):
        return True
    if account_user_id is not None and account_user_id == out.user_id:
        return True
    return role == "state_principal" and state_id is not None and state_id == out.state_id
