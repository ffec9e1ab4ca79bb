"""Subscriptions: a user's standing orders (``idc subscriptions add|list|remove``).

Kinds
-----
* ``bulletin`` — each new version of a product window (e.g. the daily REB, SEL3) as an IMS1.0 or
  QuakeML bulletin. Option ``empty`` (what a window without events sends): ``once`` (the
  default: one short "no events" message, then nothing until a bulletin with events was sent, so a
  backfill of 18 quiet windows sends one message, not 18 empty bulletins), ``skip`` (nothing;
  logged as ``skipped``) or ``each`` (an empty bulletin every time);
* ``alert`` — one message per event of a new product version that passes the filters: region
  (``box`` = min lat, max lat, min lon, max lon in degrees, min lon > max lon crosses the
  antimeridian; or ``circle`` = lat, lon, radius in degrees of great circle on a sphere),
  magnitude (``min_magnitude``/``max_magnitude``, preferred = first network magnitude, or of
  ``magnitude_type``) and depth (``min_depth_km``/``max_depth_km``);
* ``station_data`` — the waveforms of ``channels`` (``NET.STA.LOC.CHA`` with ``*``/``?``
  wildcards) for the window of each new product version (miniSEED).

Channels: ``webhook`` (``target`` = http(s) URL; the body is signed with the subscription's
secret, see :mod:`pipeline.distribution.deliver`) or ``email`` (``target`` = address).
"""
from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipeline.errors import IdcError
from pipeline.store import deliveries as store
from pipeline.store.accounts import AccountError, get_user

if TYPE_CHECKING:
    from pipeline.store.db import Session

KINDS = ("bulletin", "alert", "station_data")
CHANNELS = ("webhook", "email")
FORMATS = ("ims1", "quakeml")
FILTER_KEYS = ("box", "circle", "min_magnitude", "max_magnitude", "magnitude_type", "min_depth_km", "max_depth_km",
               "channels", "empty")
#: the ``empty`` option of a bulletin subscription (see the module docstring); the first is the default
EMPTY_CHOICES = ("once", "skip", "each")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_CHANNEL_RE = re.compile(r"^[A-Z0-9*?]{1,2}\.[A-Z0-9*?]{1,5}\.[A-Z0-9*?\-]{0,2}\.[A-Z0-9*?]{1,3}$")


class SubscriptionError(IdcError, ValueError):
    """A bad subscription (the message names the field)."""


def _number(filters: dict, key: str, lo: float, hi: float) -> None:
    if filters.get(key) is None:
        filters.pop(key, None)
        return
    try:
        v = float(filters[key])
    except (TypeError, ValueError):
        raise SubscriptionError(f"filter {key!r}: {filters[key]!r} is not a number") from None
    if not lo <= v <= hi:
        raise SubscriptionError(f"filter {key!r}: {v} is outside [{lo}, {hi}]")
    filters[key] = v


def _numbers(value, key: str, n: int) -> list[float]:
    if isinstance(value, str):
        value = [x for x in value.split(",")]
    try:
        out = [float(x) for x in value]
    except (TypeError, ValueError):
        raise SubscriptionError(f"filter {key!r}: {value!r} is not {n} comma-separated numbers") from None
    if len(out) != n:
        raise SubscriptionError(f"filter {key!r}: needs {n} numbers, got {len(out)}")
    return out


def check_filters(kind: str, filters: dict | None) -> dict:
    """Validate and normalise the filters of a subscription of ``kind``."""
    f = dict(filters or {})
    unknown = [k for k in f if k not in FILTER_KEYS]
    if unknown:
        raise SubscriptionError(f"unknown filter(s) {', '.join(unknown)} (filters: {', '.join(FILTER_KEYS)})")
    if f.get("empty") is not None:
        if kind != "bulletin":
            raise SubscriptionError("option 'empty' applies to bulletin subscriptions only")
        if f["empty"] not in EMPTY_CHOICES:
            raise SubscriptionError(f"option 'empty': {f['empty']!r} is not one of {', '.join(EMPTY_CHOICES)}")
    if kind != "alert":
        bad = [k for k in f if k not in ("channels", "empty") and f[k] is not None]
        if bad:
            raise SubscriptionError(f"filter(s) {', '.join(bad)} apply to alerts only")
    if f.get("box") is not None:
        b = _numbers(f["box"], "box", 4)
        if not (-90 <= b[0] <= b[1] <= 90 and -180 <= b[2] <= 180 and -180 <= b[3] <= 180):
            raise SubscriptionError("filter 'box': min lat <= max lat within [-90, 90], longitudes within "
                                    f"[-180, 180] (got {b})")
        f["box"] = b
    if f.get("circle") is not None:
        c = _numbers(f["circle"], "circle", 3)
        if not (-90 <= c[0] <= 90 and -180 <= c[1] <= 180 and 0 < c[2] <= 180):
            raise SubscriptionError(f"filter 'circle': lat, lon, radius (0, 180] degrees (got {c})")
        f["circle"] = c
    if f.get("box") is not None and f.get("circle") is not None:
        raise SubscriptionError("give either a box or a circle, not both")
    for k in ("min_magnitude", "max_magnitude"):
        _number(f, k, -12, 12)
    for k in ("min_depth_km", "max_depth_km"):
        _number(f, k, -10, 7000)
    for a, b in (("min_magnitude", "max_magnitude"), ("min_depth_km", "max_depth_km")):
        if f.get(a) is not None and f.get(b) is not None and f[a] > f[b]:
            raise SubscriptionError(f"filter {a!r} ({f[a]}) is greater than {b!r} ({f[b]})")
    if kind == "station_data":
        ch = f.get("channels")
        if isinstance(ch, str):
            ch = [x.strip() for x in ch.split(",") if x.strip()]
        if not ch:
            raise SubscriptionError("station_data needs filter 'channels' (NET.STA.LOC.CHA, wildcards * ?)")
        for c in ch:
            if not _CHANNEL_RE.match(c.upper()):
                raise SubscriptionError(f"filter 'channels': {c!r} is not NET.STA.LOC.CHA")
        f["channels"] = [c.upper() for c in ch]
    elif f.get("channels"):
        raise SubscriptionError("filter 'channels' applies to station_data only")
    else:
        f.pop("channels", None)
    return {k: v for k, v in f.items() if v is not None}


def add_subscription(session: Session, user: str, kind: str, products, channel: str, target: str,
                     filters: dict | None = None, fmt: str = "", secret: str | None = None):
    """Create a subscription; a webhook gets a random HMAC secret unless one is given."""
    from pipeline.store.products import PRODUCT_TYPES

    u = get_user(session, user)
    if kind not in KINDS:
        raise SubscriptionError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    if channel not in CHANNELS:
        raise SubscriptionError(f"channel {channel!r}: one of {', '.join(CHANNELS)}")
    if isinstance(products, str):
        products = [p.strip() for p in products.split(",") if p.strip()]
    products = [p.upper() for p in products]
    bad = [p for p in products if p not in PRODUCT_TYPES]
    if not products or bad:
        raise SubscriptionError(f"products {products!r}: give one or more of {', '.join(PRODUCT_TYPES)}")
    if channel == "webhook":
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SubscriptionError(f"webhook target {target!r}: give an http(s) URL")
        secret = secret or secrets.token_urlsafe(32)
    else:
        if not _EMAIL_RE.match(target or ""):
            raise SubscriptionError(f"email target {target!r}: give an e-mail address")
        secret = ""
    if fmt and fmt not in FORMATS:
        raise SubscriptionError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    return store.add_subscription(session, user_id=u.id, kind=kind, products=products, channel=channel,
                                  target=target, secret=secret, filters=check_filters(kind, filters),
                                  format=fmt or "", active=True)


def remove_subscription(session: Session, sub_id: int) -> None:
    if not store.remove_subscription(session, sub_id):
        raise SubscriptionError(f"no subscription {sub_id}")


def list_subscriptions(session: Session, user: str | None = None) -> list[dict]:
    user_id = get_user(session, user).id if user else None
    return [{"id": s.id, "user": name, "kind": s.kind, "products": list(s.products), "channel": s.channel,
             "target": s.target, "filters": s.filters, "format": s.format or "", "active": s.active}
            for s, name in store.subscriptions(session, user_id)]


def list_deliveries(session: Session, subscription: int | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict]:
    return [{"delivery_id": d.delivery_id, "subscription": d.subscription_id, "product": d.product,
             "window_start": d.window_start, "window_end": d.window_end, "version": d.version, "item": d.item,
             "status": d.status, "attempts": d.attempts, "bytes": d.bytes, "last_error": d.last_error,
             "delivered": d.delivered.isoformat(timespec="seconds") if d.delivered else None}
            for d in store.deliveries(session, subscription, status, limit)]


__all__ = ["AccountError", "SubscriptionError", "add_subscription", "check_filters", "list_deliveries",
           "list_subscriptions", "remove_subscription", "KINDS", "CHANNELS"]
