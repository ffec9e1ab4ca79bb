"""Who is asking, and may they: the principal of a request and the access policy.

Every data route takes the caller as a FastAPI dependency
(``principal: Principal = Depends(current_principal)``) and asks the policy with
:func:`require` (``require(principal, "waveforms")``) or, for event queries, with
:func:`event_filter` (which also applies the public rule in SQL). The policy itself is
configuration (``[access]``, :mod:`pipeline.accounts.config`).

Credentials (what is supported)
-------------------------------
* ``Authorization: Bearer idc_<id>_<secret>`` — the API token of ``idc accounts token``;
* ``Authorization: Basic base64(<user>:<token>)`` — the same token as the password of HTTP Basic
  (the user name must be the token's account), for clients that only speak Basic;
* ``Authorization: Digest username="<user>", ...`` — HTTP Digest (RFC 7616, MD5 or SHA-256,
  ``qop=auth``) with the token as the password: what FDSN ``queryauth`` specifies and obspy's
  ``Client(user=..., password=...)`` sends (:mod:`pipeline.service.digest`; ``[access.digest]``);
* no ``Authorization`` header — the ``public`` principal.

``/fdsnws/dataselect/1/queryauth`` and ``/fdsnws/event/1/queryauth`` answer 401 without
credentials; so does an event query without credentials for a catalog only accounts may read
(:func:`require_catalog`: the Digest challenge lets obspy's ``Client(user=..., password=...)``
send its credentials). Tokens are never accepted in the URL.

Answers: malformed/unknown/expired/revoked token → 401 (with ``WWW-Authenticate: Bearer``, and on
``[access.digest] challenge_paths`` first the Digest and Basic challenges of :func:`challenges`);
product not allowed for the role → 403; over the account's rate limit → 429 with
``Retry-After``; all as FDSN error documents. :func:`install` adds the middleware that writes a
``download_audit`` row for every request that went through :func:`current_principal` (who,
endpoint, products, status, bytes, duration; queued and written in batches by a background
thread, :mod:`pipeline.service.audit`, flushed at shutdown and by :func:`flush_audit`) and keeps
tokens out of the logs
(:mod:`pipeline.accounts.redact`).
"""
from __future__ import annotations

import base64
import binascii
import logging
import time

from fastapi import Request

from pipeline.accounts.policy import PUBLIC, Decision, Principal, Refused, check, who  # noqa: F401
from pipeline.service.fdsn.params import FDSNError
from pipeline.store.db import short_error

log = logging.getLogger("pipeline.service.auth")


class AccessDenied(FDSNError):
    """The principal may not read a product (HTTP 403, or 401 for a bad token)."""


def require_role(principal: Principal, roles, public_message: str, role_message: str) -> None:
    """Raise :class:`AccessDenied` unless ``principal`` holds one of ``roles``: 401 with
    ``public_message`` without a token, 403 with ``role_message`` (``{roles}``, ``{name}`` and
    ``{role}`` filled in) for an account without such a role."""
    if not principal.authenticated:
        raise AccessDenied(401, public_message)
    if not set(principal.roles) & set(roles):
        raise AccessDenied(403, role_message.format(roles=", ".join(roles), name=repr(principal.name),
                                                    role=principal.role))


def require(principal: Principal, product: str, *, partial_ok: bool = False) -> Decision:
    """Raise :class:`AccessDenied` (403) unless ``principal`` may read ``product``
    (:func:`pipeline.accounts.policy.check`); with ``partial_ok`` the public part of a bulletin is
    enough (the caller then applies :func:`public_event_condition`)."""
    try:
        return check(principal, product, partial_ok=partial_ok)
    except Refused as exc:
        raise AccessDenied(403, str(exc)) from None


def require_catalog(principal: Principal, product: str) -> Decision:
    """:func:`require` (``partial_ok``) for an event catalog (fdsnws-event, the web UI): a request
    *without credentials* for a catalog that some account may read gets 401 with the
    ``WWW-Authenticate`` challenges (:func:`challenges`) instead of 403, so that a client holding
    credentials sends them: obspy's ``Client(user=..., password=...)`` answers a Digest challenge
    on ``/fdsnws/event/1/query`` (it uses ``queryauth`` for dataselect only)."""
    try:
        return require(principal, product, partial_ok=True)
    except AccessDenied as exc:
        cfg = principal.access
        if principal.authenticated or exc.status != 403 or cfg is None or \
                not any(r != "public" for r in cfg.roles_for(product)):
            raise
        raise AccessDenied(401, f"{product} is restricted: send the credentials of an account allowed to read it "
                                "(HTTP Digest with user = account name and password = API token, as obspy's "
                                "Client(base_url, user=..., password=...) does, or 'Authorization: Bearer "
                                "<token>')") from None


def public_event_condition(principal: Principal, O, now: float | None = None):
    """SQL condition on origin ``O`` for the public part of a bulletin: magnitude (of
    ``magnitude_type``, else the preferred = first network magnitude) ≥ ``min_magnitude`` and
    origin time at least ``min_age_days`` ago."""
    from pipeline.store.access import public_event_condition as condition

    cfg = principal.access.public_events
    return condition(O, min_magnitude=cfg.min_magnitude, magnitude_type=cfg.magnitude_type,
                     min_age_days=cfg.min_age_days, now=time.time() if now is None else now)


def event_filter(principal: Principal):
    """For :class:`pipeline.service.fdsn.event.EventQuery`: a function ``(query, types, O, P) →
    query`` that refuses (403; 401 without credentials, :func:`require_catalog`) catalogs the
    principal may not read and keeps only the public events of catalogs it may read in part. Its
    ``may_read`` attribute (``product → bool``) chooses the default catalog of the principal."""
    from pipeline.store.access import restrict_events

    def apply(q, types, O, P):
        full, partial = [], []
        for t in types:
            d = require_catalog(principal, t)
            (full if d.full else partial).append(t)
        if not partial:
            return q
        return restrict_events(q, O, P, full, partial, public_event_condition(principal, O))

    apply.may_read = principal.may_read
    return apply


# --------------------------------------------------------------------------- credentials
def _credentials(request: Request):
    """The token of the request (None = no credentials), or the parsed
    :class:`~pipeline.service.digest.DigestCredentials` of ``Authorization: Digest``;
    FDSNError 401 when malformed."""
    h = request.headers.get("authorization")
    if h is None:
        return None
    scheme, _, value = h.strip().partition(" ")
    value = value.strip()
    request.state.idc_auth_scheme = scheme.lower()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "digest" and request.app.state.idc.settings.access.digest.enabled:
        from pipeline.service.digest import DigestFailure, parse_authorization

        try:
            return parse_authorization(value)
        except DigestFailure as exc:
            raise AccessDenied(401, str(exc)) from None
    if scheme.lower() == "basic" and value:
        try:
            user, sep, token = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AccessDenied(401, "Malformed HTTP Basic credentials") from None
        if not sep or not token:
            raise AccessDenied(401, "HTTP Basic credentials need user:token")
        request.state.idc_basic_user = user
        return token
    raise AccessDenied(401, f"Unsupported Authorization scheme {scheme[:20]!r}: use 'Bearer <token>' "
                            "(or HTTP Digest or Basic with the token as password)")


def _digest_account(request: Request, session, cred):
    """The account of Digest credentials (:class:`AuthError` when they do not authenticate;
    ``stale`` set on it for a right response to an expired nonce)."""
    from pipeline.store.accounts import AuthError, authenticate_digest
    from pipeline.service.digest import DigestFailure, for_app, request_targets

    try:
        return for_app(request.app).verify(
            cred, request.method, request_targets(request.scope),
            lambda user, realm, alg, check: authenticate_digest(session, user, realm, alg, check))
    except DigestFailure as exc:
        err = AuthError(str(exc))
        err.stale = exc.stale
        raise err from None


def challenges(request: Request) -> list[str]:
    """``WWW-Authenticate`` values for a 401 answer besides the middleware's Bearer challenge:
    the Digest challenges (one per algorithm, ``stale=true`` after an expired nonce) and Basic, on
    the ``[access.digest] challenge_paths`` (the FDSN services), unless the request used Bearer
    (it is told about Bearer only). Elsewhere none: a browser would open a login dialog."""
    cfg = request.app.state.idc.settings.access.digest
    if not cfg.enabled or getattr(request.state, "idc_auth_scheme", "") == "bearer":
        return []
    if not any(request.url.path.startswith(p) for p in cfg.challenge_paths):
        return []
    from pipeline.service.digest import for_app

    stale = bool(getattr(request.state, "idc_digest_stale", False))
    return for_app(request.app).challenges(stale=stale) + [f'Basic realm="{cfg.realm}", charset="UTF-8"']


def _limiter(request: Request):
    lim = getattr(request.app.state, "idc_ratelimiter", None)
    if lim is None:
        from pipeline.accounts.ratelimit import RateLimiter

        lim = request.app.state.idc_ratelimiter = RateLimiter()
    return lim


def _retry_after(wait_s: float) -> int:
    from pipeline.accounts.ratelimit import RateLimiter

    return RateLimiter.retry_after(wait_s)


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: authenticate the request (401), apply the rate limit (429) and
    return its :class:`Principal`; the principal is kept on ``request.state`` for the audit."""
    from pipeline.store.accounts import AuthError, authenticate

    st = request.app.state.idc
    cfg = st.settings.access
    client = request.client.host if request.client else ""
    anonymous = Principal(access=cfg, unrestricted=False, client=client)
    request.state.idc_principal = anonymous
    token = _credentials(request)
    own_rate = (None, None)
    if token is None:
        p = anonymous
    else:
        try:
            with st.session() as s:
                acc = authenticate(s, token) if isinstance(token, str) else _digest_account(request, s, token)
        except AuthError as exc:
            request.state.idc_principal = Principal(name="(invalid token)", access=cfg, unrestricted=False,
                                                    client=client)
            stale = getattr(exc, "stale", False)
            request.state.idc_digest_stale = stale
            # failed attempts count against the client address (no free guessing); a right
            # Digest response to an expired nonce is no guess
            rl = cfg.rate_limit
            wait = 0 if stale else _limiter(request).take(f"authfail:{client}", rl.public_rate_per_s,
                                                          rl.public_burst)
            if wait > 0:
                request.state.idc_retry_after = _retry_after(wait)
                raise FDSNError(429, f"Too many requests with invalid credentials from {client}; retry after "
                                     f"{request.state.idc_retry_after} s") from None
            raise AccessDenied(401, str(exc)) from None
        basic_user = getattr(request.state, "idc_basic_user", None)
        if basic_user is not None and basic_user != acc.name:
            raise AccessDenied(401, "HTTP Basic user name does not match the token's account")
        p = Principal(name=acc.name, roles=(acc.role,), state=acc.state, unrestricted=False, user_id=acc.user_id,
                      state_id=acc.state_id, access=cfg, client=client)
        own_rate = (acc.rate_per_s, acc.burst)
    request.state.idc_principal = p
    rl = cfg.rate_limit
    if p.authenticated:
        rate, burst = own_rate
        key = f"user:{p.name}"
        rate = rl.rate_per_s if rate is None else rate
        burst = rl.burst if burst is None else burst
    else:
        key, rate, burst = f"ip:{client}", rl.public_rate_per_s, rl.public_burst
    wait = _limiter(request).take(key, rate, burst)
    if wait > 0:
        request.state.idc_retry_after = _retry_after(wait)
        raise FDSNError(429, f"Rate limit of {who(p)} exceeded ({rate:g} requests/s, burst {burst}); "
                             f"retry after {request.state.idc_retry_after} s")
    return p


# --------------------------------------------------------------------------- audit middleware
class AccessMiddleware:
    """ASGI middleware: ``WWW-Authenticate`` on 401, ``Retry-After`` on 429, a ``download_audit``
    row for every request that went through :func:`current_principal`, log redaction."""

    def __init__(self, app, settings, writer=None):
        self.app = app
        self.settings = settings
        self._redaction = False
        #: the :class:`pipeline.service.audit.AuditWriter` rows go to (batched, background thread)
        self.writer = writer

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if not self._redaction:  # uvicorn configures its loggers after the app is built
            from pipeline.accounts.redact import install as install_redaction

            install_redaction()
            self._redaction = True
        state = scope.setdefault("state", {})
        t0 = time.perf_counter()
        info = {"status": 500, "bytes": 0}

        async def _send(msg):
            if msg["type"] == "http.response.start":
                info["status"] = msg["status"]
                extra = []
                if msg["status"] == 401:
                    extra.append((b"www-authenticate", b'Bearer realm="idc-pipeline"'))
                if msg["status"] == 429 and state.get("idc_retry_after"):
                    extra.append((b"retry-after", str(state["idc_retry_after"]).encode()))
                if extra:
                    msg = dict(msg, headers=list(msg.get("headers", [])) + extra)
            elif msg["type"] == "http.response.body":
                info["bytes"] += len(msg.get("body", b""))
            await send(msg)

        try:
            await self.app(scope, receive, _send)
        finally:
            p = state.get("idc_principal")
            if p is not None and self.settings.access.audit:
                try:
                    row = _audit_row(scope, state, p, info, (time.perf_counter() - t0) * 1000.0)
                    if self.writer is None:
                        from pipeline.service.audit import AuditWriter

                        self.writer = AuditWriter(self.settings.database_url)
                    self.writer.submit(row)  # queued: written within 0.1 s (pipeline.service.audit)
                except Exception as exc:  # the audit never breaks a response; logged
                    log.warning("download audit not written: %s", short_error(exc))


def _audit_row(scope, state, p: Principal, info, ms: float) -> dict:
    from pipeline.accounts.redact import redact

    query = redact(scope.get("query_string", b"").decode("latin-1"))
    body = state.get("body_text")
    if body:
        query = (query + "\n" if query else "") + redact(body[:2000])
    client = scope.get("client") or ("", 0)
    return {"user_name": p.name[:64], "state": p.state, "role": p.role, "client": str(client[0])[:64],
            "method": scope.get("method", "")[:8], "endpoint": scope.get("path", "")[:200],
            "product": ",".join(p.products)[:100], "query": query, "status": int(info["status"]),
            "bytes": int(info["bytes"]), "duration_ms": round(ms, 3)}


def _write_audit(url: str, row: dict) -> None:
    """Write one audit row now (synchronously); the middleware queues rows instead
    (:class:`pipeline.service.audit.AuditWriter`)."""
    from pipeline.store.audit import write_audit_row

    write_audit_row(url, {**row, "created": _utcnow()})


def flush_audit(app, timeout: float = 30.0) -> bool:
    """Block until every audit row queued by ``app`` so far is in the store (for readers that
    need the rows of requests just answered, e.g. tests); False on timeout."""
    writer = getattr(app.state, "idc_audit", None)
    return True if writer is None else writer.flush(timeout)


def _utcnow():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def install(app, settings) -> None:
    """Add the access middleware, the accounts routes (``/accounts/1/``) and log redaction to
    ``app`` (called once by :func:`pipeline.service.app.create_app`)."""
    from pipeline.accounts.ratelimit import RateLimiter
    from pipeline.accounts.redact import install as install_redaction
    from pipeline.service import accounts

    from pipeline.service.audit import AuditWriter

    app.state.idc_ratelimiter = RateLimiter()
    writer = app.state.idc_audit = AuditWriter(settings.database_url)
    app.add_middleware(AccessMiddleware, settings=settings, writer=writer)
    _close_on_shutdown(app, writer)
    app.include_router(accounts.router, prefix="/accounts/1")
    install_redaction()


def _close_on_shutdown(app, writer) -> None:
    """Flush the audit writer when the app's lifespan ends (uvicorn shutdown, TestClient exit)."""
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        try:
            async with inner(a) as state:
                yield state
        finally:
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(writer.close)

    app.router.lifespan_context = lifespan
