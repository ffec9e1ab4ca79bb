"""The review queue in the store: ``review_item`` (an event under review, with its working copy)
and ``review_action`` (the audit trail).

Query functions for :mod:`pipeline.review.queue`; each takes the caller's session, so an
analyst action stays one transaction (the caller's) and the row locks (``SELECT ... FOR
UPDATE`` on PostgreSQL) are held until the caller commits. The obspy event work (QuakeML working
copies, snapshots) stays in the review package: these functions see plain values and rows.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.models import Product, ReviewAction, ReviewItem


def item(session: Session, item_id: int, lock: bool = True) -> ReviewItem | None:
    """Queue item ``item_id`` (None when there is none), locked for update unless ``lock`` is false."""
    q = select(ReviewItem).where(ReviewItem.id == int(item_id))
    if lock:
        q = q.with_for_update()
    return session.scalar(q)


def add_item(session: Session, **values) -> ReviewItem:
    """A new queue item (columns of :class:`~pipeline.store.models.ReviewItem`), flushed: its id is set."""
    it = ReviewItem(**values)
    session.add(it)
    session.flush()
    return it


def log_action(session: Session, item_id: int, action: str, analyst: str, detail: dict, before=None,
               after=None) -> ReviewAction:
    """Append one ``review_action`` row (flushed: its id is set)."""
    row = ReviewAction(item_id=item_id, action=action, analyst=analyst, detail=detail, before=before, after=after)
    session.add(row)
    session.flush()
    return row


def actions(session: Session, item_id: int) -> list[ReviewAction]:
    """The audit trail of an item, oldest first."""
    return list(session.scalars(select(ReviewAction).where(ReviewAction.item_id == item_id)
                                .order_by(ReviewAction.id)))


def product_versions(session: Session, ptype: str, start: float, end: float) -> list[Product]:
    """Every version of the ``ptype`` windows overlapping [start, end), by window start and version."""
    return list(session.scalars(select(Product).where(Product.type == ptype, Product.window_start < end,
                                                      Product.window_end > start)
                                .order_by(Product.window_start, Product.version)))


def open_items_between(session: Session, start: float, end: float) -> list[ReviewItem]:
    """The items not merged away whose origin time is in [start, end)."""
    return list(session.scalars(select(ReviewItem).where(ReviewItem.origin_time >= start,
                                                         ReviewItem.origin_time < end,
                                                         ReviewItem.status != "merged")))


def items(session: Session, statuses: Iterable[str] | None = None, start: float | None = None,
          end: float | None = None) -> list[ReviewItem]:
    """Queue items of ``statuses`` (all when None) with origin time in [start, end) (open ends when
    None), oldest origin first."""
    q = select(ReviewItem).order_by(ReviewItem.origin_time, ReviewItem.id)
    if statuses:
        q = q.where(ReviewItem.status.in_(list(statuses)))
    if start is not None:
        q = q.where(ReviewItem.origin_time >= start)
    if end is not None:
        q = q.where(ReviewItem.origin_time < end)
    return list(session.scalars(q))


def items_from_source(session: Session, product_id: int, public_id: str) -> list[int]:
    """Ids of the items made from event ``public_id`` of product version ``product_id``, newest first."""
    return list(session.scalars(select(ReviewItem.id).where(ReviewItem.source_product_id == product_id,
                                                            ReviewItem.source_public_id == public_id[:200])
                                .order_by(ReviewItem.id.desc())))


def open_items_around(session: Session, t: float, span: float) -> list[ReviewItem]:
    """The items not merged away with origin time in [t - span, t + span], newest item first."""
    return list(session.scalars(select(ReviewItem).where(ReviewItem.origin_time.between(t - span, t + span),
                                                         ReviewItem.status != "merged")
                                .order_by(ReviewItem.id.desc())))


def neighbours(session: Session, item_id: int, t: float, span: float) -> list[ReviewItem]:
    """The other pending or accepted items with origin time in [t - span, t + span]."""
    return list(session.scalars(select(ReviewItem).where(
        ReviewItem.id != item_id, ReviewItem.status.in_(("pending", "accepted")),
        ReviewItem.origin_time.between(t - span, t + span))))


def accepted_for_update(session: Session, start: float, end: float) -> list[ReviewItem]:
    """The accepted items with origin time in [start, end), oldest origin first, locked for update
    (the publisher of a day holds them until it commits)."""
    return list(session.scalars(select(ReviewItem).where(ReviewItem.status == "accepted",
                                                         ReviewItem.origin_time >= start,
                                                         ReviewItem.origin_time < end)
                                .order_by(ReviewItem.origin_time, ReviewItem.id).with_for_update()).all())
