"""Store side of the radionuclide stage: samples (IMS2.0 PHD messages), their analyses and
nuclide results (tables rn_sample, rn_analysis, rn_nuclide; migration 0009), and the event
origins a radionuclide detection is fused with.

The radionuclide stage (:mod:`pipeline.radionuclide.ingest`, :mod:`pipeline.radionuclide.backtrack`)
calls these with its own session; no SQL lives there. A sample is keyed by (station, detector,
data type, qualifier, measurement id): :func:`replace_sample` writes a new one or replaces the
row, analysis and nuclides of the same key in the caller's transaction, together with the
``ingested_file`` row of the input (:func:`pipeline.store.ingest.commit_batch`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from pipeline.store import ingest as ingest_store
from pipeline.store.models import Event, Origin, Product, RnAnalysis, RnNuclide, RnReport, RnSample
from pipeline.store.products import newest_overlapping

#: the columns of rn_sample a caller fills (everything but id and lddate)
SAMPLE_FIELDS = ("station", "detector", "system_type", "data_type", "qualifier", "srid", "measurement_id",
                 "detector_bk_measurement_id", "gas_bk_measurement_id", "msg_id", "collection_start",
                 "collection_stop", "acquisition_start", "real_time_s", "live_time_s", "air_volume_m3",
                 "xe_volume_cm3", "file", "sha256", "source")
NUCLIDE_FIELDS = ("nuclide", "detected", "energy_kev", "net_counts", "net_counts_sigma", "activity_bq",
                  "activity_sigma_bq", "mda_bq", "concentration_mbq_m3", "concentration_sigma_mbq_m3",
                  "lc_mbq_m3", "mdc_mbq_m3")


@dataclass
class StoredSample:
    """A sample row with its analysis summary (what listings and fusion need)."""

    id: int
    station: str
    detector: str
    system_type: str
    data_type: str
    qualifier: str
    srid: str
    measurement_id: str
    detector_bk_measurement_id: str
    gas_bk_measurement_id: str
    msg_id: str
    collection_start: float | None
    collection_stop: float | None
    acquisition_start: float | None
    real_time_s: float | None
    live_time_s: float | None
    air_volume_m3: float | None
    xe_volume_cm3: float | None
    file: str
    sha256: str
    source: str
    kind: str = ""
    category: int | None = None
    category_reason: str = ""
    error: str = ""
    nuclides: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Replaced:
    """What :func:`replace_sample` did: the row id, whether a row of the same key existed and its
    stored file (to delete when it differs from the new one), and the quarantined copies of
    earlier rejections of this input that are now resolved."""

    sample_id: int
    replaced: bool
    old_file: str | None
    released: tuple[str, ...]


def _key(fields: dict):
    return (RnSample.station == fields["station"], RnSample.detector == fields["detector"],
            RnSample.data_type == fields["data_type"], RnSample.qualifier == fields["qualifier"],
            RnSample.measurement_id == fields["measurement_id"])


def replace_sample(session: Session, sample: dict, analysis: dict, nuclides: Sequence[dict],
                   ingested: dict | None = None) -> Replaced:
    """Insert the sample (``sample``: :data:`SAMPLE_FIELDS`) with its analysis (``kind``,
    ``category``, ``category_reason``, ``report``, ``error``, ``software_version``) and nuclide
    rows (:data:`NUCLIDE_FIELDS`), replacing a sample of the same key; ``ingested`` is the
    ``ingested_file`` row of the input (sha256, source, format, size_bytes) when it came
    through ``idc ingest``. One transaction: the caller's session."""
    row = session.scalar(select(RnSample).where(*_key(sample)))
    old_file = None
    if row is None:
        row = RnSample(**{k: sample[k] for k in SAMPLE_FIELDS})
        session.add(row)
        session.flush()
        replaced = False
    else:
        old_file = row.file
        old = session.scalar(select(RnAnalysis.id).where(RnAnalysis.sample_id == row.id))
        if old is not None:
            session.execute(delete(RnNuclide).where(RnNuclide.analysis_id == old))
            session.execute(delete(RnAnalysis).where(RnAnalysis.id == old))
        for k in SAMPLE_FIELDS:
            setattr(row, k, sample[k])
        replaced = True
    an = RnAnalysis(sample_id=row.id, **{k: analysis.get(k, d) for k, d in (
        ("kind", ""), ("category", None), ("category_reason", ""), ("report", {}), ("error", ""),
        ("software_version", ""))})
    session.add(an)
    session.flush()
    for n in nuclides:
        session.add(RnNuclide(analysis_id=an.id, **{k: n.get(k) for k in NUCLIDE_FIELDS}))
    released: list[str] = []
    if ingested is not None:
        released = ingest_store.commit_batch(session, "", (), (), [ingested], 0)
    session.flush()
    return Replaced(row.id, replaced, old_file, tuple(released))


def _stored(s: RnSample, a: RnAnalysis | None, nuclides: list[RnNuclide]) -> StoredSample:
    return StoredSample(id=s.id, **{k: getattr(s, k) for k in SAMPLE_FIELDS},
                        kind=a.kind if a else "", category=a.category if a else None,
                        category_reason=a.category_reason if a else "", error=a.error if a else "",
                        nuclides=[{k: getattr(n, k) for k in NUCLIDE_FIELDS} for n in nuclides])


def list_samples(session: Session, station: str | None = None, start: float | None = None,
                 end: float | None = None, data_type: str | None = None) -> list[StoredSample]:
    """Samples whose collection (or acquisition, when there is no collection) overlaps
    [start, end), oldest first, with their analyses and nuclides."""
    q = select(RnSample, RnAnalysis).outerjoin(RnAnalysis, RnAnalysis.sample_id == RnSample.id)
    if station:
        q = q.where(RnSample.station == station)
    if data_type:
        q = q.where(RnSample.data_type == data_type.upper())
    if start is not None:
        q = q.where(or_(RnSample.collection_stop >= start,
                        (RnSample.collection_stop.is_(None)) & (RnSample.acquisition_start >= start)))
    if end is not None:
        q = q.where(or_(RnSample.collection_start < end,
                        (RnSample.collection_start.is_(None)) & (RnSample.acquisition_start < end)))
    rows = list(session.execute(q.order_by(RnSample.collection_start, RnSample.acquisition_start, RnSample.id)))
    return _with_nuclides(session, rows)


def _with_nuclides(session: Session, rows) -> list[StoredSample]:
    ids = [a.id for _, a in rows if a is not None]
    by_an: dict[int, list[RnNuclide]] = {}
    if ids:
        for n in session.scalars(select(RnNuclide).where(RnNuclide.analysis_id.in_(ids)).order_by(RnNuclide.id)):
            by_an.setdefault(n.analysis_id, []).append(n)
    return [_stored(s, a, by_an.get(a.id, []) if a else []) for s, a in rows]


def find_samples(session: Session, ref: str) -> list[StoredSample]:
    """Samples named by ``ref``: the row id (digits), the SRID, the measurement id or the MSG_ID."""
    conds = [RnSample.srid == ref, RnSample.measurement_id == ref, RnSample.msg_id == ref]
    if ref.isdigit():
        conds.append(RnSample.id == int(ref))
    q = (select(RnSample, RnAnalysis).outerjoin(RnAnalysis, RnAnalysis.sample_id == RnSample.id)
         .where(or_(*conds)).order_by(RnSample.id))
    return _with_nuclides(session, list(session.execute(q)))


def report_of(session: Session, sample_id: int) -> dict | None:
    """The stored JSON report of a sample's analysis."""
    return session.scalar(select(RnAnalysis.report).where(RnAnalysis.sample_id == sample_id))


def background_file(session: Session, station: str, detector: str, measurement_id: str) -> str | None:
    """The stored file of the background measurement (DETBKPHD/GASBKPHD) a sample's header names."""
    if not measurement_id:
        return None
    return session.scalar(select(RnSample.file).where(
        RnSample.station == station, RnSample.detector == detector, RnSample.measurement_id == measurement_id,
        RnSample.data_type.in_(("DETBKPHD", "GASBKPHD"))).order_by(RnSample.id.desc()).limit(1))


def concentration_history(session: Session, station: str, before: float, data_type: str = "SAMPLEPHD",
                          limit: int = 200) -> dict[str, list[float]]:
    """Nuclide → the station's detected activity concentrations (mBq/m3) of FULL samples
    collected before ``before``, oldest first (the EWMA rule of the categories)."""
    q = (select(RnNuclide.nuclide, RnNuclide.concentration_mbq_m3)
         .join(RnAnalysis, RnAnalysis.id == RnNuclide.analysis_id)
         .join(RnSample, RnSample.id == RnAnalysis.sample_id)
         .where(RnSample.station == station, RnSample.data_type == data_type, RnSample.qualifier != "PREL",
                RnSample.collection_stop < before, RnNuclide.detected.is_(True),
                RnNuclide.concentration_mbq_m3.is_not(None))
         .order_by(RnSample.collection_stop.desc()).limit(limit))
    out: dict[str, list[float]] = {}
    for nuc, c in session.execute(q):
        out.setdefault(nuc, []).append(float(c))
    return {k: v[::-1] for k, v in out.items()}


def analysis_of(session: Session, sample_id: int) -> tuple[dict, str, str] | None:
    """``(report, software version, error)`` of a sample's stored analysis (None: no analysis)."""
    row = session.execute(select(RnAnalysis.report, RnAnalysis.software_version, RnAnalysis.error)
                          .where(RnAnalysis.sample_id == sample_id)).first()
    return None if row is None else (row[0] or {}, row[1] or "", row[2] or "")


# --------------------------------------------------------------------------- report products (RRR)
@dataclass(frozen=True)
class StoredReport:
    """One version of a radionuclide report product (the ``product`` row and its ``rn_report`` row)."""

    product_id: int
    version: int
    runs: int
    created: object
    window_start: float
    window_end: float
    subject: str
    sample_id: int | None
    station: str
    srid: str
    content: dict


def add_report(session: Session, product_id: int, sample_id: int | None, station: str, srid: str,
               content: dict) -> None:
    """The content of a report product version (the caller's :func:`products.write_product` fill)."""
    session.add(RnReport(product_id=product_id, sample_id=sample_id, station=station, srid=srid, content=content))
    session.flush()


def _report(p: Product, r: RnReport) -> StoredReport:
    return StoredReport(p.id, p.version, p.runs or 1, p.created, p.window_start, p.window_end, p.subject,
                        r.sample_id, r.station, r.srid, r.content or {})


def stored_reports(session: Session, ptype: str = "RRR", start: float | None = None, end: float | None = None,
                   sample_id: int | None = None, station: str | None = None,
                   all_versions: bool = False) -> list[StoredReport]:
    """Report product versions (the newest of each subject unless ``all_versions``) whose window
    overlaps [start, end) (open ends when None), of one sample or one station, by window start."""
    q = select(Product, RnReport).join(RnReport, RnReport.product_id == Product.id).where(Product.type == ptype)
    if start is not None:
        q = q.where(Product.window_end > start)
    if end is not None:
        q = q.where(Product.window_start < end)
    if station:
        q = q.where(RnReport.station == station)
    if sample_id is not None:
        # the versions of the subject(s) this sample has had (a version outlives a re-keyed sample row)
        subjects = select(Product.subject).join(RnReport, RnReport.product_id == Product.id).where(
            RnReport.sample_id == sample_id)
        q = q.where(Product.subject.in_(subjects))
    rows = [_report(p, r) for p, r in session.execute(q.order_by(Product.window_start, Product.subject,
                                                                  Product.version))]
    if all_versions:
        return rows
    newest: dict[str, StoredReport] = {}
    for r in rows:
        newest[r.subject] = r  # ordered by version: the last one wins
    return sorted(newest.values(), key=lambda r: (r.window_start, r.subject))


@dataclass(frozen=True)
class EventOrigin:
    """The preferred origin of an event of a stored product (what fusion compares with)."""

    product: str
    version: int
    evid: int
    public_id: str
    time: float
    lat: float
    lon: float
    depth: float
    mb: float | None
    ml: float | None
    ms: float | None


def product_origins(session: Session, product: str, start: float, end: float) -> list[EventOrigin]:
    """Preferred origins (time in [start, end)) of the events of the newest version of every
    ``product`` window overlapping [start, end), by time."""
    prods = newest_overlapping(session, product, start, end)
    if not prods:
        return []
    ver = {p.id: p.version for p in prods}
    q = (select(Event.evid, Event.public_id, Event.product_id, Origin.time, Origin.lat, Origin.lon, Origin.depth,
                Origin.mb, Origin.ml, Origin.ms)
         .join(Origin, Origin.orid == Event.prefor)
         .where(Event.product_id.in_(list(ver)), Origin.time >= start, Origin.time < end)
         .order_by(Origin.time))
    return [EventOrigin(product, ver[pid], evid, pub or "", t, lat, lon, dep, mb, ml, ms)
            for evid, pub, pid, t, lat, lon, dep, mb, ml, ms in session.execute(q)]


__all__ = ["SAMPLE_FIELDS", "NUCLIDE_FIELDS", "StoredSample", "Replaced", "replace_sample", "list_samples",
           "find_samples", "report_of", "analysis_of", "background_file", "StoredReport", "add_report",
           "stored_reports", "concentration_history", "EventOrigin",
           "product_origins"]
