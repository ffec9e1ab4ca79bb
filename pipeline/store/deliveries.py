"""Subscriptions and their delivery log in the store (``subscription``, ``delivery``).

Query functions for :mod:`pipeline.distribution` (``idc subscriptions ...`` and the
``distribute`` DAG). The subscription functions take the caller's session (one CLI command =
one transaction). The delivery-log functions that claim, finish or look up one delivery take the
store URL and are each one short transaction of their own, committed before anything is sent:
a delivery's row says ``sending`` (claimed) before the receiver is contacted and ``delivered``
right after, which is what makes a re-run after a crash send only what has not arrived (see
:mod:`pipeline.distribution.deliver`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.store.db import session_scope
from pipeline.store.models import Delivery, Event, Netmag, Origin, Product, Subscription, UserAccount
from pipeline.store.products import event_id


# --------------------------------------------------------------------------- subscriptions
def add_subscription(session: Session, **values) -> Subscription:
    """A new subscription (columns of :class:`~pipeline.store.models.Subscription`), flushed."""
    sub = Subscription(**values)
    session.add(sub)
    session.flush()
    return sub


def remove_subscription(session: Session, sub_id: int) -> bool:
    """Delete subscription ``sub_id``; False when there is none."""
    sub = session.get(Subscription, sub_id)
    if sub is None:
        return False
    session.delete(sub)
    return True


def subscriptions(session: Session, user_id: int | None = None) -> list[tuple[Subscription, str]]:
    """``(subscription, user name)`` of every subscription (of account ``user_id`` when given), by id."""
    q = select(Subscription, UserAccount.name).join(UserAccount, UserAccount.id == Subscription.user_id)
    if user_id is not None:
        q = q.where(Subscription.user_id == user_id)
    return [tuple(r) for r in session.execute(q.order_by(Subscription.id))]


def active_subscriptions(session: Session) -> list[tuple[Subscription, UserAccount]]:
    """``(subscription, its account)`` of every active subscription, by id (the account may be disabled)."""
    return [tuple(r) for r in session.execute(
        select(Subscription, UserAccount).join(UserAccount, UserAccount.id == Subscription.user_id)
        .where(Subscription.active.is_(True)).order_by(Subscription.id))]


# --------------------------------------------------------------------------- what is delivered
def product_events(session: Session, prod: Product) -> list[dict]:
    """Events of a product version ordered by origin time, with the public event id of
    fdsnws-event and their network magnitudes (``mags``: list of (type, value), preferred first)."""
    E, O, N = Event, Origin, Netmag
    rows = session.execute(select(E.evid, E.evname, O.orid, O.time, O.lat, O.lon, O.depth, O.etype)
                           .join(O, O.orid == E.prefor).where(E.product_id == prod.id)
                           .order_by(O.time, O.orid)).all()
    mags: dict[int, list] = {}
    orids = [r.orid for r in rows]
    for i in range(0, len(orids), 500):
        for n in session.scalars(select(N).where(N.orid.in_(orids[i:i + 500])).order_by(N.magid)):
            mags.setdefault(n.orid, []).append((n.magtype, n.magnitude))
    out = []
    for rank, r in enumerate(rows, start=1):
        out.append({"id": event_id(prod.type, prod.window_start, prod.window_end, rank), "time": r.time,
                    "lat": r.lat, "lon": r.lon, "depth_km": r.depth, "region": r.evname or "",
                    "etype": r.etype or "", "mags": mags.get(r.orid, [])})
    return out


# --------------------------------------------------------------------------- the delivery log
def deliveries(session: Session, subscription: int | None = None, status: str | None = None,
               limit: int = 100) -> list[Delivery]:
    """The newest ``limit`` delivery rows (of one subscription, of one status), newest first."""
    D = Delivery
    q = select(D).order_by(D.id.desc()).limit(limit)
    if subscription is not None:
        q = q.where(D.subscription_id == subscription)
    if status:
        q = q.where(D.status == status)
    return list(session.scalars(q))


def claim_delivery(url: str, did: str, *, subscription_id: int, product: Product, item: str, claimant: str,
                   now: datetime, stale_before: datetime, abandoned: Callable[[str], bool]) -> bool:
    """Create or take the row of delivery ``did`` for sending (``status = sending``, ``last_error =
    claimant``, one committed transaction); False when it is delivered or being sent.

    A row may be taken when it is ``pending``, ``failed`` or ``skipped``, when it is ``sending``
    since before ``stale_before``, or when it is ``sending`` under a claim ``abandoned(claim)``
    says is dead (compare-and-set on that claim, so two runs cannot both take it)."""
    D = Delivery
    try:
        with session_scope(url) as s:
            row = s.execute(select(D.status, D.last_error).where(D.delivery_id == did)).first()
            if row is None:
                s.add(D(delivery_id=did, subscription_id=subscription_id, product=product.type,
                        window_start=product.window_start, window_end=product.window_end, version=product.version,
                        item=item, status="sending", attempts=0, last_error=claimant, bytes=0))
                s.flush()
                return True
            takeable = or_(D.status.in_(("pending", "failed", "skipped")),
                           (D.status == "sending") & (D.lddate < stale_before))
            if row.status == "sending" and abandoned(row.last_error):  # compare-and-set on the claim
                takeable = or_(takeable, (D.status == "sending") & (D.last_error == row.last_error))
            res = s.execute(update(D).where(D.delivery_id == did).where(takeable)
                            .values(status="sending", lddate=now, last_error=claimant))
            return res.rowcount == 1
    except IntegrityError:  # a concurrent run created it first
        return False


def finish_delivery(url: str, did: str, *, attempts: int, nbytes: int | None, error: str, status: str,
                    now: datetime) -> None:
    """Record the outcome of delivery ``did`` (one committed transaction): ``attempts`` more
    attempts, ``status``, the error text; the size and time of delivery when ``nbytes`` is given."""
    with session_scope(url) as s:
        d = s.scalar(select(Delivery).where(Delivery.delivery_id == did))
        d.attempts += attempts
        d.status = status
        d.last_error = error[:2000]
        if nbytes is not None:
            d.bytes = nbytes
            d.delivered = now


def last_bulletin_delivery(url: str, sub_id: int, product: str, window_start: float,
                           items: tuple[str, ...]) -> tuple[str, float, float] | None:
    """``(item, window start, window end)`` of the newest delivery of ``product`` to subscription
    ``sub_id`` with one of ``items`` for a window starting at or before ``window_start`` that was
    (or is being, or failed to be) sent; None when there is none."""
    D = Delivery
    with session_scope(url) as s:
        last = s.execute(select(D.item, D.window_start, D.window_end).where(
            D.subscription_id == sub_id, D.product == product, D.window_start <= window_start,
            D.status.in_(("delivered", "sending", "pending", "failed")), D.item.in_(items))
            .order_by(D.window_start.desc(), D.id.desc()).limit(1)).first()
    return None if last is None else (last.item, last.window_start, last.window_end)


def failed_versions(url: str) -> list[tuple[str, float, float, int]]:
    """``(product, window start, window end, version)`` of the product versions with a ``failed``
    delivery, by window start, product and version."""
    D = Delivery
    with session_scope(url) as s:
        return [tuple(r) for r in s.execute(select(D.product, D.window_start, D.window_end, D.version)
                                            .where(D.status == "failed").distinct()
                                            .order_by(D.window_start, D.product, D.version)).all()]
