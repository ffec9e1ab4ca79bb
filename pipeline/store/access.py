"""The access policy's conditions in SQL: which events of a bulletin the public may read.

The policy itself (roles × products, ``[access]``) is :mod:`pipeline.accounts.policy`; the web
service decides which catalogs a caller may read in full or in part and hands the result to
:func:`restrict_events`, which adds the matching condition to an event query (the ``access`` hook
of :class:`pipeline.store.events.EventCriteria`).
"""
from __future__ import annotations

from sqlalchemy import and_, or_, select

from pipeline.store.models import Netmag


def public_event_condition(O, *, min_magnitude: float, magnitude_type: str, min_age_days: float, now: float):
    """SQL condition on origin ``O`` for the public part of a bulletin: magnitude (of
    ``magnitude_type``, else the preferred = first network magnitude) ≥ ``min_magnitude`` and
    origin time at least ``min_age_days`` before ``now`` (epoch s)."""
    q = select(Netmag.magnitude).where(Netmag.orid == O.orid)
    if magnitude_type:
        q = q.where(Netmag.magtype == magnitude_type)
    mag = q.order_by(Netmag.magid).limit(1).scalar_subquery()
    return and_(O.time <= now - min_age_days * 86400.0, mag >= min_magnitude)


def restrict_events(q, O, P, full: list[str], partial: list[str], public_condition):
    """Event query ``q`` (origin ``O``, product ``P``) kept to the products of types ``full`` and
    the events of types ``partial`` that pass ``public_condition`` (:func:`public_event_condition`);
    ``q`` itself when nothing is partial."""
    if not partial:
        return q
    cond = P.type.in_(partial) & public_condition
    return q.where(or_(P.type.in_(full), cond) if full else cond)
