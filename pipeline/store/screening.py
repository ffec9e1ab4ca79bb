"""Event screening in the store: the SEB event-characterisation parameters
(``event_characterization``) and the SSEB screening outcomes per criterion (``screening_result``).

Query functions for :mod:`pipeline.screening.run`; they take the caller's session, so the
rows are written inside the product version's transaction (:func:`pipeline.store.products.write_product`).
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.store.models import Event, EventCharacterization, ScreeningResult


def event_ids(session: Session, product_id: int) -> dict[str, int]:
    """``{public id: evid}`` of the events of a product version."""
    return {r.public_id: r.evid for r in session.scalars(select(Event).where(Event.product_id == product_id))}


def clear_characterizations(session: Session, product_id: int) -> None:
    """Delete the characterisation rows of an SEB version (before it is written again)."""
    session.execute(delete(EventCharacterization).where(EventCharacterization.product_id == product_id))


def add_characterization(session: Session, **values) -> None:
    """One ``event_characterization`` row (columns of :class:`~pipeline.store.models.EventCharacterization`)."""
    session.add(EventCharacterization(**values))


def characterizations(session: Session, product_id: int) -> list[EventCharacterization]:
    """The characterisation rows of an SEB version (in no particular order)."""
    return list(session.scalars(select(EventCharacterization).where(EventCharacterization.product_id == product_id)))


def clear_results(session: Session, product_id: int) -> None:
    """Delete the screening rows of an SSEB version (before it is written again)."""
    session.execute(delete(ScreeningResult).where(ScreeningResult.product_id == product_id))


def add_result(session: Session, **values) -> None:
    """One ``screening_result`` row (columns of :class:`~pipeline.store.models.ScreeningResult`)."""
    session.add(ScreeningResult(**values))


def results(session: Session, product_id: int) -> list[ScreeningResult]:
    """The screening rows of an SSEB version, by origin time and id."""
    return list(session.scalars(select(ScreeningResult).where(ScreeningResult.product_id == product_id)
                                .order_by(ScreeningResult.origin_time, ScreeningResult.id)))
