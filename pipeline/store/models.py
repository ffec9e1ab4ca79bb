"""SQLAlchemy 2 models of the store, in the spirit of CSS3.0 (NNSA KB Core variant).

Times of data (arrival, origin, segment start/end, on/off dates) are **epoch seconds (UTC) as
double precision**, as in CSS3.0 (``time f17.5``): exact to the microsecond for modern dates and
identical on SQLite and PostgreSQL. Bookkeeping times (``lddate``, ``created``) are timezone-aware
datetimes. Distances in degrees (``delta``), depths and elevations in km, as in CSS3.0.

Event-side tables (arrival, origin, origerr, assoc, netmag, stamag, event) belong to a
:class:`Product` (``product_id``, cascade delete) so that a re-run of a window replaces its rows.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


def _lddate() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False)


# --------------------------------------------------------------------------- station metadata
class Site(Base):
    """One station epoch (CSS3.0 ``site``)."""

    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("net", "sta", "ondate", name="uq_site_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    net: Mapped[str] = mapped_column(String(8), nullable=False)
    sta: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    ondate: Mapped[float] = mapped_column(Float, nullable=False)
    offdate: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    elev_km: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    staname: Mapped[str] = mapped_column(String(100), default="")
    #: ss (single station) or ar (array element / array)
    statype: Mapped[str] = mapped_column(String(4), default="ss")
    refsta: Mapped[str] = mapped_column(String(8), default="")
    dnorth_km: Mapped[float] = mapped_column(Float, default=0.0)
    deast_km: Mapped[float] = mapped_column(Float, default=0.0)
    #: file the row was loaded from
    source: Mapped[str] = mapped_column(Text, default="")
    lddate: Mapped[datetime] = _lddate()


class Sitechan(Base):
    """One channel epoch (CSS3.0 ``sitechan``); ``id`` is the chanid."""

    __tablename__ = "sitechan"
    __table_args__ = (
        UniqueConstraint("net", "sta", "loc", "chan", "ondate", name="uq_sitechan_epoch"),
        Index("ix_sitechan_nslc", "net", "sta", "loc", "chan"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    net: Mapped[str] = mapped_column(String(8), nullable=False)
    sta: Mapped[str] = mapped_column(String(8), nullable=False)
    loc: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    chan: Mapped[str] = mapped_column(String(8), nullable=False)
    ondate: Mapped[float] = mapped_column(Float, nullable=False)
    offdate: Mapped[float | None] = mapped_column(Float)
    #: n (normal), b (beam), i (instrument)
    ctype: Mapped[str] = mapped_column(String(4), default="n")
    edepth_km: Mapped[float] = mapped_column(Float, default=0.0)
    hang: Mapped[float | None] = mapped_column(Float)
    vang: Mapped[float | None] = mapped_column(Float)
    samprate: Mapped[float | None] = mapped_column(Float)
    descrip: Mapped[str] = mapped_column(String(100), default="")
    #: "real", "placeholder" (documented stand-in) or "none"
    response: Mapped[str] = mapped_column(String(16), default="none")
    source: Mapped[str] = mapped_column(Text, default="")
    lddate: Mapped[datetime] = _lddate()


# --------------------------------------------------------------------------- waveforms
class WfAvail(Base):
    """Waveform availability of one SDS day file: contiguous segments, gaps and overlaps.

    ``kind`` is ``segment`` (data present), ``gap`` (between two segments of the same file) or
    ``overlap`` (data received more than once for this span; ``detail`` says ``duplicate`` when
    the samples were identical or ``conflict:<policy>`` when they differed).
    """

    __tablename__ = "wfavail"
    __table_args__ = (
        Index("ix_wfavail_nslc_time", "net", "sta", "loc", "chan", "starttime"),
        Index("ix_wfavail_path", "path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    net: Mapped[str] = mapped_column(String(8), nullable=False)
    sta: Mapped[str] = mapped_column(String(8), nullable=False)
    loc: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    chan: Mapped[str] = mapped_column(String(8), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default="segment")
    starttime: Mapped[float] = mapped_column(Float, nullable=False)
    endtime: Mapped[float] = mapped_column(Float, nullable=False)
    samprate: Mapped[float] = mapped_column(Float, nullable=False)
    nsamp: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: SDS path relative to the archive root
    path: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[str] = mapped_column(Text, default="")
    lddate: Mapped[datetime] = _lddate()


class IngestedFile(Base):
    """A file (or stream chunk) accepted into the archive, by content hash (idempotent ingest)."""

    __tablename__ = "ingested_file"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    format: Mapped[str] = mapped_column(String(32), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    ntraces: Mapped[int] = mapped_column(Integer, default=0)
    nsamples: Mapped[int] = mapped_column(BigInteger, default=0)
    lddate: Mapped[datetime] = _lddate()


class IngestJournal(Base):
    """An ingest batch whose database rows are committed while its day files may still sit in
    the archive's staging folder (``<archive>/.staging/<batch>/``).

    The row is written in the same transaction as the batch's availability rows; the staged
    files are then renamed into the archive and the row deleted. A staging folder without a row
    was never committed (deleted by the next ingest); a row means "finish the renames". So a
    crash at any moment leaves a state the next ingest (or ``idc archive check --repair``)
    completes to exactly the state of an uninterrupted run.
    """

    __tablename__ = "ingest_journal"

    batch: Mapped[str] = mapped_column(String(32), primary_key=True)
    nfiles: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestError(Base):
    """A rejected input: what, why, and where the quarantined copy is."""

    __tablename__ = "ingest_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    #: unknown_format | corrupt | unknown_channel | no_network | samplerate_change | conflict |
    #: dtype_mismatch | bad_code | read_error
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    quarantine_path: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), default="", index=True)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --------------------------------------------------------------------------- products
class Product(Base):
    """One version of a product (SEL1/SEL2/SEL3/REB/SEB/SSEB) for one time window; or of a
    per-subject product (RRR: one radionuclide sample, ``subject`` names it) for its window."""

    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint("type", "window_start", "window_end", "subject", "version", name="uq_product_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    window_start: Mapped[float] = mapped_column(Float, nullable=False)
    window_end: Mapped[float] = mapped_column(Float, nullable=False)
    #: what a per-subject product is about (RRR: ``station:detector:measurement id:qualifier`` of the
    #: sample); "" for the bulletins, whose window is the whole key (migration 0010)
    subject: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    config_hash: Mapped[str] = mapped_column(String(64), default="")
    software_version: Mapped[str] = mapped_column(String(32), default="")
    input_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: number of times this version was re-written by an identical re-run
    runs: Mapped[int] = mapped_column(Integer, default=1)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)

    events: Mapped[list["Event"]] = relationship(back_populates="product", cascade="all, delete-orphan",
                                                 passive_deletes=True)


def _product_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("product.id", ondelete="CASCADE"), nullable=False, index=True)


class Event(Base):
    __tablename__ = "event"

    evid: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    evname: Mapped[str] = mapped_column(String(64), default="")
    prefor: Mapped[int | None] = mapped_column(Integer)
    #: public identifier (QuakeML resource id)
    public_id: Mapped[str] = mapped_column(String(200), default="")
    auth: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()

    product: Mapped[Product] = relationship(back_populates="events")


class Origin(Base):
    __tablename__ = "origin"

    orid: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    evid: Mapped[int | None] = mapped_column(ForeignKey("event.evid", ondelete="CASCADE"), index=True)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    depth: Mapped[float] = mapped_column(Float, nullable=False)
    time: Mapped[float] = mapped_column(Float, nullable=False, index=True)
    nass: Mapped[int] = mapped_column(Integer, default=0)
    ndef: Mapped[int] = mapped_column(Integer, default=0)
    ndp: Mapped[int] = mapped_column(Integer, default=0)
    grn: Mapped[int | None] = mapped_column(Integer)
    srn: Mapped[int | None] = mapped_column(Integer)
    etype: Mapped[str] = mapped_column(String(8), default="")
    depdp: Mapped[float | None] = mapped_column(Float)
    dtype: Mapped[str] = mapped_column(String(1), default="")
    mb: Mapped[float | None] = mapped_column(Float)
    ms: Mapped[float | None] = mapped_column(Float)
    ml: Mapped[float | None] = mapped_column(Float)
    algorithm: Mapped[str] = mapped_column(String(32), default="")
    auth: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


class Origerr(Base):
    __tablename__ = "origerr"

    orid: Mapped[int] = mapped_column(ForeignKey("origin.orid", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[int] = _product_fk()
    sxx: Mapped[float | None] = mapped_column(Float)
    syy: Mapped[float | None] = mapped_column(Float)
    szz: Mapped[float | None] = mapped_column(Float)
    stt: Mapped[float | None] = mapped_column(Float)
    sxy: Mapped[float | None] = mapped_column(Float)
    sxz: Mapped[float | None] = mapped_column(Float)
    syz: Mapped[float | None] = mapped_column(Float)
    stx: Mapped[float | None] = mapped_column(Float)
    sty: Mapped[float | None] = mapped_column(Float)
    stz: Mapped[float | None] = mapped_column(Float)
    sdobs: Mapped[float | None] = mapped_column(Float)
    smajax: Mapped[float | None] = mapped_column(Float)
    sminax: Mapped[float | None] = mapped_column(Float)
    strike: Mapped[float | None] = mapped_column(Float)
    sdepth: Mapped[float | None] = mapped_column(Float)
    stime: Mapped[float | None] = mapped_column(Float)
    conf: Mapped[float] = mapped_column(Float, default=0.9)
    lddate: Mapped[datetime] = _lddate()


class Arrival(Base):
    __tablename__ = "arrival"
    __table_args__ = (Index("ix_arrival_sta_time", "sta", "time"),)

    arid: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    net: Mapped[str] = mapped_column(String(8), default="")
    sta: Mapped[str] = mapped_column(String(8), nullable=False)
    time: Mapped[float] = mapped_column(Float, nullable=False)
    chanid: Mapped[int | None] = mapped_column(Integer)
    chan: Mapped[str] = mapped_column(String(8), default="")
    iphase: Mapped[str] = mapped_column(String(8), default="")
    stype: Mapped[str] = mapped_column(String(1), default="")
    deltim: Mapped[float | None] = mapped_column(Float)
    azimuth: Mapped[float | None] = mapped_column(Float)
    delaz: Mapped[float | None] = mapped_column(Float)
    slow: Mapped[float | None] = mapped_column(Float)
    delslo: Mapped[float | None] = mapped_column(Float)
    ema: Mapped[float | None] = mapped_column(Float)
    rect: Mapped[float | None] = mapped_column(Float)
    amp: Mapped[float | None] = mapped_column(Float)
    per: Mapped[float | None] = mapped_column(Float)
    logat: Mapped[float | None] = mapped_column(Float)
    clip: Mapped[str] = mapped_column(String(1), default="")
    fm: Mapped[str] = mapped_column(String(2), default="")
    snr: Mapped[float | None] = mapped_column(Float)
    qual: Mapped[str] = mapped_column(String(1), default="")
    auth: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


class Amplitude(Base):
    """Every amplitude measured on an arrival (the IDC's CSS3.0 extension table ``amplitude``):
    ``arrival.amp``/``per`` keep only the body-wave (mb) amplitude, so the Wood-Anderson (ML),
    surface-wave (Ms) and any other amplitudes of a pick live here, each with its type.

    ``amp`` nm (ground displacement, instrument corrected; WA with static magnification 1),
    ``per`` s, ``amptime`` epoch s (time the amplitude was read at), ``start_time`` epoch s and
    ``duration`` s (measurement window, when known), ``amptype`` e.g. ``A5/2``, ``AML``, ``AMs``.
    """

    __tablename__ = "amplitude"

    ampid: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    arid: Mapped[int | None] = mapped_column(ForeignKey("arrival.arid", ondelete="CASCADE"), index=True)
    #: the origin of the event it belongs to (amplitudes measured on no arrival have only this)
    orid: Mapped[int | None] = mapped_column(Integer)
    net: Mapped[str] = mapped_column(String(8), default="")
    sta: Mapped[str] = mapped_column(String(8), default="")
    chan: Mapped[str] = mapped_column(String(8), default="")
    amp: Mapped[float] = mapped_column(Float, nullable=False)
    per: Mapped[float | None] = mapped_column(Float)
    snr: Mapped[float | None] = mapped_column(Float)
    amptime: Mapped[float | None] = mapped_column(Float)
    start_time: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    amptype: Mapped[str] = mapped_column(String(8), default="")
    units: Mapped[str] = mapped_column(String(15), default="nm")
    #: the magnitude type the amplitude is meant for (QuakeML ``magnitudeHint``)
    maghint: Mapped[str] = mapped_column(String(8), default="")
    auth: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


class Assoc(Base):
    __tablename__ = "assoc"

    arid: Mapped[int] = mapped_column(ForeignKey("arrival.arid", ondelete="CASCADE"), primary_key=True)
    orid: Mapped[int] = mapped_column(ForeignKey("origin.orid", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[int] = _product_fk()
    sta: Mapped[str] = mapped_column(String(8), default="")
    phase: Mapped[str] = mapped_column(String(8), default="")
    belief: Mapped[float | None] = mapped_column(Float)
    delta: Mapped[float | None] = mapped_column(Float)
    seaz: Mapped[float | None] = mapped_column(Float)
    esaz: Mapped[float | None] = mapped_column(Float)
    timeres: Mapped[float | None] = mapped_column(Float)
    timedef: Mapped[str] = mapped_column(String(1), default="n")
    azres: Mapped[float | None] = mapped_column(Float)
    azdef: Mapped[str] = mapped_column(String(1), default="n")
    slores: Mapped[float | None] = mapped_column(Float)
    slodef: Mapped[str] = mapped_column(String(1), default="n")
    emares: Mapped[float | None] = mapped_column(Float)
    wgt: Mapped[float | None] = mapped_column(Float)
    vmodel: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


class Netmag(Base):
    __tablename__ = "netmag"

    magid: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    net: Mapped[str] = mapped_column(String(8), default="")
    orid: Mapped[int] = mapped_column(ForeignKey("origin.orid", ondelete="CASCADE"), index=True)
    evid: Mapped[int | None] = mapped_column(Integer)
    magtype: Mapped[str] = mapped_column(String(8), nullable=False)
    nsta: Mapped[int] = mapped_column(Integer, default=0)
    magnitude: Mapped[float] = mapped_column(Float, nullable=False)
    uncertainty: Mapped[float | None] = mapped_column(Float)
    auth: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


class Stamag(Base):
    __tablename__ = "stamag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    magid: Mapped[int] = mapped_column(ForeignKey("netmag.magid", ondelete="CASCADE"), index=True)
    ampid: Mapped[int | None] = mapped_column(Integer)
    sta: Mapped[str] = mapped_column(String(8), nullable=False)
    arid: Mapped[int | None] = mapped_column(Integer)
    orid: Mapped[int] = mapped_column(Integer, nullable=False)
    evid: Mapped[int | None] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(8), default="")
    delta: Mapped[float | None] = mapped_column(Float)
    magtype: Mapped[str] = mapped_column(String(8), nullable=False)
    magnitude: Mapped[float] = mapped_column(Float, nullable=False)
    uncertainty: Mapped[float | None] = mapped_column(Float)
    magres: Mapped[float | None] = mapped_column(Float)
    magdef: Mapped[str] = mapped_column(String(1), default="d")
    mmodel: Mapped[str] = mapped_column(String(32), default="")
    auth: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


# --------------------------------------------------------------------------- run log
class ProductRun(Base):
    """One run of a product stage for one window (CLI, Airflow task or demo): which version it
    wrote and how late the product was stored after its data interval ended (latency)."""

    __tablename__ = "product_run"
    __table_args__ = (Index("ix_product_run_type_window", "type", "window_start", "window_end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    window_start: Mapped[float] = mapped_column(Float, nullable=False)
    window_end: Mapped[float] = mapped_column(Float, nullable=False)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    new_version: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    events: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    #: seconds from the end of the data interval to the product being stored (a backfill run: from
    #: the arrival of the window's newest data, when that is later; see products.record_run)
    latency_s: Mapped[float] = mapped_column(Float, nullable=False)
    #: seconds the run itself took
    duration_s: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    #: who ran it: "cli", "airflow", "demo", "api"
    runner: Mapped[str] = mapped_column(String(16), nullable=False, default="cli")
    #: the Airflow dag_id/run_id (or empty)
    run_id: Mapped[str] = mapped_column(Text, nullable=False, default="")


# --------------------------------------------------------------------------- review and screening
class ReviewItem(Base):
    """One event in the analyst review queue (SEL3 → REB), with its working copy.

    ``event_xml`` is the event being reviewed as a one-event QuakeML document (picks, origins,
    arrivals with defining flags, amplitudes, magnitudes): what ``publish`` freezes into the REB.
    ``status``: ``pending`` | ``accepted`` | ``rejected`` | ``merged`` (its arrivals moved into
    another item, ``merged_into``).
    """

    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_item_time", "origin_time"),
                      Index("ix_review_item_source", "source_product_id", "source_evid"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    #: the SEL3 product version and event row the item came from (NULL for split-off events)
    source_product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"))
    source_evid: Mapped[int | None] = mapped_column(Integer)
    source_public_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: preferred origin of the working copy (epoch s, deg, km), kept in step with ``event_xml``
    origin_time: Mapped[float] = mapped_column(Float, nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    depth_km: Mapped[float] = mapped_column(Float, nullable=False)
    #: depth fixed by the analyst (km); NULL = free depth when relocating
    fixed_depth_km: Mapped[float | None] = mapped_column(Float)
    #: arrivals edited since the last location (the origin does not reflect them yet)
    needs_relocation: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("review_item.id", ondelete="SET NULL"))
    event_xml: Mapped[str] = mapped_column(Text, nullable=False)
    #: REB version this item was last published in (NULL = never)
    published_version: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    lddate: Mapped[datetime] = _lddate()


class ReviewAction(Base):
    """The audit trail: one row per analyst (or system) action on a review item."""

    __tablename__ = "review_action"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_item.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    #: enqueue | accept | reject | edit | relocate | comment | merge | split | publish
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    analyst: Mapped[str] = mapped_column(String(64), nullable=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    #: the parameters of the action (edits, comment text, EDC outcome, product version)
    detail: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    #: JSON snapshots of the event before and after the action (NULL when unchanged)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


class EventCharacterization(Base):
    """SEB event-characterisation parameters of one event of an SEB product."""

    __tablename__ = "event_characterization"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    evid: Mapped[int] = mapped_column(ForeignKey("event.evid", ondelete="CASCADE"), nullable=False, index=True)
    public_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    mb: Mapped[float | None] = mapped_column(Float)
    mb_uncertainty: Mapped[float | None] = mapped_column(Float)
    mb_nsta: Mapped[int | None] = mapped_column(Integer)
    ms: Mapped[float | None] = mapped_column(Float)
    ms_uncertainty: Mapped[float | None] = mapped_column(Float)
    ms_nsta: Mapped[int | None] = mapped_column(Integer)
    depth_km: Mapped[float] = mapped_column(Float, nullable=False)
    #: half-width of the 90 % depth confidence interval, km (NULL when the depth was fixed)
    depth_conf90_km: Mapped[float | None] = mapped_column(Float)
    depth_fixed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    distance_to_coast_km: Mapped[float | None] = mapped_column(Float)
    at_sea: Mapped[bool | None] = mapped_column(Boolean)
    #: hydroacoustic energy measure (largest SNR of a hydroacoustic arrival); NULL = none
    hydro_energy: Mapped[float | None] = mapped_column(Float)
    hydro_nsta: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lddate: Mapped[datetime] = _lddate()


class ScreeningResult(Base):
    """SSEB: one row per (event, screening criterion) plus one ``overall`` row per event."""

    __tablename__ = "screening_result"
    __table_args__ = (Index("ix_screening_result_event", "product_id", "public_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    #: the event row in the SSEB product (NULL when the event was screened out and not kept)
    evid: Mapped[int | None] = mapped_column(ForeignKey("event.evid", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    origin_time: Mapped[float] = mapped_column(Float, nullable=False)
    #: ms_mb | depth | hydroacoustic | overall
    criterion: Mapped[str] = mapped_column(String(16), nullable=False)
    applicable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    value: Mapped[float | None] = mapped_column(Float)
    uncertainty: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    #: screened_out | not_screened_out | not_applicable
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: where the criterion comes from (REFERENCE.md source key, or "configuration")
    source: Mapped[str] = mapped_column(Text, nullable=False, default="")
    lddate: Mapped[datetime] = _lddate()


# --------------------------------------------------------------------------- accounts and distribution
class State(Base):
    """A State Signatory (or other organisation) whose users receive products (issue 6 item 4)."""

    __tablename__ = "state"
    __table_args__ = (UniqueConstraint("code", name="uq_state_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ISO 3166-1 code (alpha-2 or alpha-3), upper case
    code: Mapped[str] = mapped_column(String(8), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class UserAccount(Base):
    """One account: a person or system of a State, an IDC analyst/operator, or a public user."""

    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("name", name="uq_user_account_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    state_id: Mapped[int | None] = mapped_column(ForeignKey("state.id", ondelete="RESTRICT"), index=True)
    #: state_principal | state_user | analyst | operator | public
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    email: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: per-account rate limit (requests per second, burst); NULL = the [access.rate_limit] default
    rate_per_s: Mapped[float | None] = mapped_column(Float)
    burst: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class ApiToken(Base):
    """An API token. Only ``token_id`` (public, the look-up key) and the SHA-256 of the secret
    are stored; the token itself is shown once when created."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("token_id", name="uq_api_token_token_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    #: hex SHA-256 of ``token_id + ":" + secret``
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: HTTP Digest (RFC 7616) of FDSN ``queryauth``: the realm and hex ``H(user ":" realm ":"
    #: token)`` for MD5 and SHA-256 (migration 0005). HA1 is password-equivalent *for Digest in
    #: that realm*: whoever reads it can answer Digest challenges as this token (not Bearer/Basic).
    #: NULL for tokens created before 0005 (re-issue them to use Digest).
    digest_realm: Mapped[str | None] = mapped_column(String(200))
    digest_ha1_md5: Mapped[str | None] = mapped_column(String(32))
    digest_ha1_sha256: Mapped[str | None] = mapped_column(String(64))


class DownloadAudit(Base):
    """One row per request to a data endpoint: who, what, when, how much, with what outcome.
    Keeps the account name (not a foreign key) so the trail survives account removal."""

    __tablename__ = "download_audit"
    __table_args__ = (Index("ix_download_audit_created", "created"), Index("ix_download_audit_user", "user_name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    user_name: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    client: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    #: product(s) asked for, comma separated (SEL3, REB, waveforms, stations, output:<id>, ...)
    product: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    #: query string (or the start of a POST body); tokens are never part of it
    query: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)


class RequestOutput(Base):
    """The output of one user's request (e.g. an IMS1.0 DATA message), readable only by its
    owner, the principal of the owner's State, analysts and operators."""

    __tablename__ = "request_output"
    __table_args__ = (UniqueConstraint("public_id", name="uq_request_output_public_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    state_id: Mapped[int | None] = mapped_column(ForeignKey("state.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    product: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    media_type: Mapped[str] = mapped_column(String(100), nullable=False, default="application/octet-stream")
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class Subscription(Base):
    """A user's standing order: ``kind`` bulletin | alert | station_data, for ``products``,
    sent by ``channel`` webhook | email to ``target`` (URL or address), with ``filters``."""

    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    products: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False)
    #: HMAC-SHA256 key of a webhook (shared with the receiver, so stored as given)
    secret: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    #: alert filters (region box/circle, magnitude, depth) or station_data channels
    filters: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    #: bulletin format: ims1 | quakeml
    format: Mapped[str] = mapped_column(String(16), nullable=False, default="ims1")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class Delivery(Base):
    """The delivery log: one row per (subscription, product version, item), keyed by a
    deterministic ``delivery_id`` so that a re-run never delivers twice."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("delivery_id", name="uq_delivery_delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(64), nullable=False)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"), nullable=False,
                                                 index=True)
    product: Mapped[str] = mapped_column(String(16), nullable=False)
    window_start: Mapped[float] = mapped_column(Float, nullable=False)
    window_end: Mapped[float] = mapped_column(Float, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    #: what was sent within the product (the event id of an alert; "" for a whole bulletin)
    item: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: pending | delivered | failed | skipped
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    delivered: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lddate: Mapped[datetime] = _lddate()


class AutoDRMMessage(Base):
    """The AutoDRM e-mail log (:mod:`pipeline.autodrm.mail`): one row per request e-mail, keyed by
    ``message_key`` (SHA-256 of Message-ID + sender, or of the content when there is no
    Message-ID) so that a re-run never answers a message twice; also the audit of the e-mail path
    (who, what, when, size)."""

    __tablename__ = "autodrm_message"
    __table_args__ = (UniqueConstraint("message_key", name="uq_autodrm_message_key"),
                      Index("ix_autodrm_message_received", "received"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(64), nullable=False)
    message_id: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    #: the From address, and the account it matched ("" = unknown sender)
    sender: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    user_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    subject: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: MSG_ID of the IMS1.0 request message
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    reply_to: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: email | ftp
    channel: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    #: data | error_log | help | refused | none
    answer: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    #: products asked for (SEL3, REB, waveforms, stations), comma separated
    products: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    parts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: answering | sent | retry | failed | ignored
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: the FTP file of the answer, or where a failed message was kept
    file: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    received: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    answered: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --------------------------------------------------------------------------- radionuclide samples
class RnSample(Base):
    """One IMS2.0 pulse-height-data message (SAMPLEPHD, CALIBPHD, SPIKEPHD/QCPHD, BLANKPHD,
    DETBKPHD, GASBKPHD) ingested from the drop folder or ``idc ingest`` (issue 17).

    One row per (station, detector, data type, qualifier, measurement id): a message delivered
    again (corrected, or re-ingested with ``--force``) replaces its row, analysis and stored file.
    Times are epoch seconds (UTC) like the waveform tables; ``qualifier`` is PREL/FULL ("" when the
    header has none); ``file`` is the stored copy, relative to ``$IDC_HOME/radionuclide``.
    """

    __tablename__ = "rn_sample"
    __table_args__ = (
        UniqueConstraint("station", "detector", "data_type", "qualifier", "measurement_id", name="uq_rn_sample"),
        Index("ix_rn_sample_station_time", "station", "collection_stop"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station: Mapped[str] = mapped_column(String(16), nullable=False)
    detector: Mapped[str] = mapped_column(String(32), nullable=False)
    #: B beta-gamma, G gamma, P particulate
    system_type: Mapped[str] = mapped_column(String(4), default="")
    data_type: Mapped[str] = mapped_column(String(16), nullable=False)
    qualifier: Mapped[str] = mapped_column(String(8), default="")
    #: sample reference identification (SRID) and the measurement ids of the #Header
    srid: Mapped[str] = mapped_column(String(64), default="")
    measurement_id: Mapped[str] = mapped_column(String(100), nullable=False)
    detector_bk_measurement_id: Mapped[str] = mapped_column(String(100), default="")
    gas_bk_measurement_id: Mapped[str] = mapped_column(String(100), default="")
    msg_id: Mapped[str] = mapped_column(String(64), default="")
    collection_start: Mapped[float | None] = mapped_column(Float)
    collection_stop: Mapped[float | None] = mapped_column(Float)
    acquisition_start: Mapped[float | None] = mapped_column(Float)
    real_time_s: Mapped[float | None] = mapped_column(Float)
    live_time_s: Mapped[float | None] = mapped_column(Float)
    air_volume_m3: Mapped[float | None] = mapped_column(Float)
    xe_volume_cm3: Mapped[float | None] = mapped_column(Float)
    #: the stored message (relative to $IDC_HOME/radionuclide), its SHA-256 and the input's name
    file: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    lddate: Mapped[datetime] = _lddate()


class RnAnalysis(Base):
    """The automatic analysis of a sample (:func:`pipeline.radionuclide.analyse.analyse_file`): its
    kind, category and the whole JSON report; ``error`` says why there is no result."""

    __tablename__ = "rn_analysis"
    __table_args__ = (UniqueConstraint("sample_id", name="uq_rn_analysis_sample"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("rn_sample.id", ondelete="CASCADE"), nullable=False)
    #: beta-gamma | gamma ("" when the analysis failed)
    kind: Mapped[str] = mapped_column(String(16), default="")
    #: particulate category 1-5 (null for beta-gamma: no public IDC noble-gas scheme)
    category: Mapped[int | None] = mapped_column(Integer)
    category_reason: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    software_version: Mapped[str] = mapped_column(String(32), default="")
    lddate: Mapped[datetime] = _lddate()


class RnNuclide(Base):
    """One nuclide of an analysis: detected or not, activity (Bq) and activity concentration
    (mBq/m3) with 1-sigma uncertainties, decision threshold and MDA/MDC (Currie)."""

    __tablename__ = "rn_nuclide"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("rn_analysis.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    nuclide: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    detected: Mapped[bool] = mapped_column(Boolean, default=False)
    energy_kev: Mapped[float | None] = mapped_column(Float)
    net_counts: Mapped[float | None] = mapped_column(Float)
    net_counts_sigma: Mapped[float | None] = mapped_column(Float)
    activity_bq: Mapped[float | None] = mapped_column(Float)
    activity_sigma_bq: Mapped[float | None] = mapped_column(Float)
    mda_bq: Mapped[float | None] = mapped_column(Float)
    concentration_mbq_m3: Mapped[float | None] = mapped_column(Float)
    concentration_sigma_mbq_m3: Mapped[float | None] = mapped_column(Float)
    lc_mbq_m3: Mapped[float | None] = mapped_column(Float)
    mdc_mbq_m3: Mapped[float | None] = mapped_column(Float)


class RnReport(Base):
    """The content of one version of a radionuclide report product (RRR, a ``product`` row of type
    RRR whose ``subject`` names the sample): the report built from the sample's stored automatic
    analysis (:mod:`pipeline.radionuclide.report`). ``sample_id`` is kept for look-ups; the
    content stands on its own (an earlier version keeps what it said)."""

    __tablename__ = "rn_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = _product_fk()
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("rn_sample.id", ondelete="SET NULL"), index=True)
    station: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    srid: Mapped[str] = mapped_column(String(64), default="")
    content: Mapped[dict] = mapped_column(JSON, default=dict)
    lddate: Mapped[datetime] = _lddate()
