"""Product versions keyed by (type, window): a re-run replaces, changed inputs make a new version.

Rule (used by every stage that writes a product):

* no version yet for (type, window) → version 1;
* the newest version has the same input fingerprint and config hash → its rows are deleted and
  re-written in place (same version number, ``runs`` incremented): a re-run never duplicates;
* otherwise → a new version (newest + 1); earlier versions stay retrievable.

Per-subject products (:data:`SUBJECT_PRODUCTS`: the radionuclide report RRR, one per sample) are
keyed by (type, window, subject): the same rule applies to each subject on its own.

Concurrent writers of the same window are serialised (:func:`lock_window`): the later one sees the
earlier one's version and follows the rule above, so two simultaneous runs end as one version
(written, then replaced) or two, never as an IntegrityError.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from pipeline.store.models import (
    Amplitude,
    Arrival,
    Assoc,
    Event,
    Netmag,
    Origerr,
    Origin,
    Product,
    RnReport,
    Stamag,
    utcnow,
)

#: the bulletins (event products: QuakeML/IMS1.0 exports, fdsnws-event catalogs, the outbox)
PRODUCT_TYPES = ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")
#: products made per subject within their window (RRR: one per radionuclide sample, subject =
#: the sample's key; window = its collection)
SUBJECT_PRODUCTS = ("RRR",)
ALL_PRODUCT_TYPES = PRODUCT_TYPES + SUBJECT_PRODUCTS
#: products the automatic chain makes; REB comes only from analyst review (``idc review publish``),
#: SEB/SSEB only from screening (``idc screen``)
AUTOMATIC_PRODUCTS = ("SEL1", "SEL2", "SEL3")
#: time stamps in product file names and event ids (UTC)
STAMP_FORMAT = "%Y%m%dT%H%M%S"


def window_stamp(t, micro: bool = True) -> str:
    """``YYYYmmddTHHMMSS`` of a time (UTCDateTime, epoch seconds or datetime), with ``.ffffff``
    (trailing zeros dropped) when it has a fraction of a second and ``micro``."""
    from obspy import UTCDateTime

    return _stamp(float(UTCDateTime(t).timestamp) if not isinstance(t, (int, float)) else float(t), micro)


@lru_cache(maxsize=4096)
def _stamp(epoch: float, micro: bool) -> str:
    from obspy import UTCDateTime

    u = UTCDateTime(epoch)
    s = u.strftime(STAMP_FORMAT)
    if micro and u.microsecond:
        s += f".{u.microsecond:06d}".rstrip("0")
    return s


def event_id(ptype: str, window_start: float, window_end: float, rank: int) -> str:
    """Public event id ``<TYPE>-<window start>-<window end>-<rank>`` (fdsnws-event, the web UI,
    deliveries): the event's 1-based rank by origin time within the product version. No database
    keys, so an identical re-run of a window keeps every id."""
    return f"{ptype}-{window_stamp(window_start)}-{window_stamp(window_end)}-{rank}"


def product_stem(ptype: str, start, end, suffix: str | int | None = None) -> str:
    """File-name stem of a product window: ``<TYPE>_<start>_<end>`` (whole seconds) and ``_v<N>``
    for an int version or ``_<suffix>`` for a text suffix (e.g. an open-data table)."""
    stem = f"{ptype}_{window_stamp(start, micro=False)}_{window_stamp(end, micro=False)}"
    if suffix is None:
        return stem
    return f"{stem}_v{suffix}" if isinstance(suffix, int) else f"{stem}_{suffix}"


#: child tables in delete order (children first)
_CHILDREN = (RnReport, Stamag, Netmag, Assoc, Amplitude, Origerr, Arrival, Origin, Event)


@dataclass(frozen=True)
class ProductKey:
    type: str
    window_start: float
    window_end: float
    #: the subject of a per-subject product (:data:`SUBJECT_PRODUCTS`), "" for the bulletins
    subject: str = ""

    def __post_init__(self):
        if self.type not in ALL_PRODUCT_TYPES:
            raise ValueError(f"product type {self.type!r}: expected one of {', '.join(ALL_PRODUCT_TYPES)}")
        if not self.window_end > self.window_start:
            raise ValueError(f"product window: end {self.window_end} must be after start {self.window_start}")
        if bool(self.subject) != (self.type in SUBJECT_PRODUCTS):
            raise ValueError(f"product {self.type}: " + ("needs a subject" if self.type in SUBJECT_PRODUCTS
                                                         else f"has no subject (got {self.subject!r})"))


def _key_where(key: ProductKey):
    return (Product.type == key.type, Product.window_start == key.window_start,
            Product.window_end == key.window_end, Product.subject == key.subject)


def latest_version(session: Session, key: ProductKey) -> Product | None:
    return session.scalar(select(Product).where(*_key_where(key)).order_by(Product.version.desc()).limit(1))


def versions(session: Session, key: ProductKey) -> list[Product]:
    return list(session.scalars(select(Product).where(*_key_where(key)).order_by(Product.version)))


def newest_in_range(session: Session, type_: str, start: float, end: float) -> list[Product]:
    """The newest version of every ``type_`` window lying inside [start, end), by window start."""
    from sqlalchemy import func, select

    newest = (select(Product.window_start, Product.window_end, Product.subject, func.max(Product.version).label("v"))
              .where(Product.type == type_, Product.window_start >= start, Product.window_end <= end)
              .group_by(Product.window_start, Product.window_end, Product.subject).subquery())
    q = (select(Product).join(newest, (Product.window_start == newest.c.window_start)
                              & (Product.window_end == newest.c.window_end) & (Product.subject == newest.c.subject)
                              & (Product.version == newest.c.v))
         .where(Product.type == type_).order_by(Product.window_start, Product.subject))
    return list(session.scalars(q))


def newest_overlapping(session: Session, type_: str, start: float, end: float) -> list[Product]:
    """The newest version of every ``type_`` window (and subject) overlapping [start, end), by window
    (start, end) and subject."""
    newest: dict[tuple[float, float, str], Product] = {}
    for p in session.scalars(select(Product).where(Product.type == type_, Product.window_start < end,
                                                   Product.window_end > start)):
        k = (p.window_start, p.window_end, p.subject)
        if k not in newest or p.version > newest[k].version:
            newest[k] = p
    return [newest[k] for k in sorted(newest)]


def versions_overlapping(session: Session, type_: str | None = None, start: float | None = None,
                         end: float | None = None) -> list[Product]:
    """Every stored version of the ``type_`` windows (all types when None) overlapping [start, end)
    (open ends when None), in the order they were made."""
    q = select(Product)
    if type_:
        q = q.where(Product.type == type_)
    if start is not None:
        q = q.where(Product.window_end > start)
    if end is not None:
        q = q.where(Product.window_start < end)
    return list(session.scalars(q.order_by(Product.created, Product.id)))


def newest_versions(session: Session) -> list[tuple[str, float, float, int]]:
    """``(type, window start, window end, newest version)`` of every stored bulletin window
    (:data:`PRODUCT_TYPES`), by window (start, end) and type."""
    return [tuple(r) for r in session.execute(
        select(Product.type, Product.window_start, Product.window_end, func.max(Product.version))
        .where(Product.type.in_(PRODUCT_TYPES))
        .group_by(Product.type, Product.window_start, Product.window_end)
        .order_by(Product.window_start, Product.window_end, Product.type)).all()]


def clear_rows(session: Session, product_id: int) -> None:
    for model in _CHILDREN:
        session.execute(delete(model).where(model.product_id == product_id))


def lock_window(session: Session, key: ProductKey) -> None:
    """Serialise the writers of one product window until the end of ``session``'s transaction.

    Two runs of the same window (two ``idc process``, a DAG run beside a manual one) would both read
    "no version yet" and both insert version 1: the loser got an IntegrityError (SQL dump). With
    this lock the second writer waits until the first has committed and then reads its version, so
    it replaces it (same inputs) or writes the next version. PostgreSQL: a transaction-level
    advisory lock on a 64-bit hash of the key; SQLite: the database write lock taken now
    (``BEGIN IMMEDIATE``, waiting up to the connection's busy timeout, 30 s) instead of at the
    first insert, after a stale read.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"product {key.type} {key.window_start!r} {key.window_end!r}"
                                f"{' ' + key.subject if key.subject else ''}".encode()).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)})
    elif conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        if not raw.in_transaction:  # (inside one, this session has written already: it holds the lock)
            raw.execute("BEGIN IMMEDIATE")


def write_product(session: Session, key: ProductKey, *, input_fingerprint: str, config_hash: str,
                  software_version: str, fill: Callable[[Session, Product], dict] | None = None,
                  force_new_version: bool = False) -> tuple[Product, bool]:
    """Create or replace the product for ``key``; ``fill`` adds its rows and returns a summary.

    :returns: ``(product, is_new_version)``.
    """
    lock_window(session, key)
    current = latest_version(session, key)
    same = (current is not None and current.input_fingerprint == input_fingerprint
            and current.config_hash == config_hash and not force_new_version)
    if same:
        clear_rows(session, current.id)
        current.runs = (current.runs or 1) + 1
        current.created = utcnow()
        current.software_version = software_version
        product, new = current, False
    else:
        nxt = (session.scalar(select(func.max(Product.version)).where(*_key_where(key))) or 0) + 1
        product = Product(type=key.type, window_start=key.window_start, window_end=key.window_end,
                          subject=key.subject, version=nxt, config_hash=config_hash, software_version=software_version,
                          input_fingerprint=input_fingerprint, runs=1, summary={})
        session.add(product)
        new = True
    session.flush()
    if fill is not None:
        product.summary = fill(session, product) or {}
    session.flush()
    return product, new


def record_run(session: Session, product: Product, new_version: bool, events: int, started,
               duration_s: float, runner: str = "cli", run_id: str = "", data_arrival: float | None = None) -> dict:
    """Log one run of a product stage (:class:`ProductRun`): latency = stored − end of data window,
    or − ``data_arrival`` (epoch s) when that is later: a backfill of archived data is measured from
    the arrival of its newest data, not from a window end years ago."""
    from pipeline.store.models import ProductRun

    finished = utcnow()
    latency = finished.timestamp() - max(product.window_end, data_arrival or product.window_end)
    session.add(ProductRun(type=product.type, window_start=product.window_start, window_end=product.window_end,
                           product_id=product.id, version=product.version, new_version=bool(new_version),
                           events=int(events), started=started, finished=finished, latency_s=latency,
                           duration_s=float(duration_s), runner=runner[:16], run_id=run_id))
    session.flush()
    return {"latency_s": latency, "duration_s": duration_s,
            "latency_from": "data_arrival" if (data_arrival or 0) > product.window_end else "window_end"}


def select_version(session: Session, key: ProductKey, version: int | None = None, *, missing: str,
                   label: str) -> Product:
    """Version ``version`` of the product window ``key`` (the newest when ``None``).

    :param missing: the message when the window has no version at all.
    :param label: names the window in the message for an unknown version.
    :raises FileNotFoundError: with ``missing``, or naming the versions that exist.
    """
    vs = versions(session, key)
    if not vs:
        raise FileNotFoundError(missing)
    prod = vs[-1] if version is None else next((p for p in vs if p.version == int(version)), None)
    if prod is None:
        raise FileNotFoundError(f"{label}: no version {version} (have {', '.join(str(p.version) for p in vs)})")
    return prod


def newest_arrival(session: Session, start: float, end: float) -> float | None:
    """When the newest waveform data of [start, end) reached the store (epoch s; availability rows'
    load date), or ``None`` when the window has no data."""
    from datetime import timezone

    from sqlalchemy import func, select

    from pipeline.store.models import WfAvail

    t = session.scalar(select(func.max(WfAvail.lddate)).where(
        WfAvail.kind == "segment", WfAvail.endtime >= start, WfAvail.starttime < end))
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
