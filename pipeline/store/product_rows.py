"""The CSS3.0 rows of one product version, as the table exports read them
(:mod:`pipeline.alerts.open_data`: the open-data catalogue tables).

Plain row objects keyed for joining in Python; the caller's session (one read transaction for all
product versions of an export).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.models import Arrival, Assoc, Event, Netmag, Origerr, Origin


def origin_rows(session: Session, product_id: int) -> tuple[dict[int, Origin], dict[int, Origerr],
                                                            dict[int, list[Netmag]], list[Event]]:
    """``(origins, errors, netmags, events)`` of a product version: origins and their error
    ellipses by ``orid``, the network magnitudes of each ``orid`` (by ``magid``: the preferred
    first) and the event rows (in no particular order)."""
    origins = {o.orid: o for o in session.scalars(select(Origin).where(Origin.product_id == product_id))}
    errs = {e.orid: e for e in session.scalars(select(Origerr).where(Origerr.product_id == product_id))}
    netmags: dict[int, list] = {}
    for n in session.scalars(select(Netmag).where(Netmag.product_id == product_id).order_by(Netmag.magid)):
        netmags.setdefault(n.orid, []).append(n)
    events = list(session.scalars(select(Event).where(Event.product_id == product_id)))
    return origins, errs, netmags, events


def arrival_rows(session: Session, product_id: int) -> tuple[dict[int, Arrival], list[Assoc]]:
    """``(arrivals by arid, assoc rows by orid and arid)`` of a product version."""
    arr = {a.arid: a for a in session.scalars(select(Arrival).where(Arrival.product_id == product_id))}
    assocs = list(session.scalars(select(Assoc).where(Assoc.product_id == product_id)
                                  .order_by(Assoc.orid, Assoc.arid)))
    return arr, assocs
