"""The radionuclide path of ``idc ingest``: an IMS2.0 pulse-height-data message (SAMPLEPHD,
CALIBPHD, SPIKEPHD/QCPHD, BLANKPHD, DETBKPHD, GASBKPHD) is read, kept, analysed and stored.

:func:`ingest_phd` (called by :class:`pipeline.ingest.runner.Ingestor` for every input that
:func:`is_phd_message` recognises — ``BEGIN IMS2.0`` with a PHD ``DATA_TYPE``):

1. the message is parsed (:func:`pipeline.radionuclide.phd.read_phd`); a bad block raises
   :class:`~pipeline.radionuclide.phd.PHDError` naming the input, the block and the line — the
   ingest quarantines the message like a bad miniSEED file and goes on with the batch;
2. the message is copied to ``$IDC_HOME/radionuclide/<station>/<year>/<data type>_<detector>_
   <measurement id>[_<qualifier>].PHD`` (one name per sample key, so a message delivered again
   overwrites its copy);
3. it is analysed (:func:`pipeline.radionuclide.analyse.analyse_file`): the detector/gas background
   named in the #Header is used when that background message was ingested before; for particulate
   samples the station's earlier FULL concentrations feed the categories' EWMA rule. An analysis
   that fails does not reject the message: the sample is stored with the reason (``error``);
4. sample, analysis, nuclides and the input's ``ingested_file`` row are written in one transaction
   (:func:`pipeline.store.radionuclide.replace_sample`): a sample of the same key (station,
   detector, data type, qualifier, measurement id) is replaced, never duplicated.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.radionuclide import phd
from pipeline.settings import Settings
from pipeline.store import radionuclide as rn_store
from pipeline.store.db import ensure_schema, session_scope

#: the format name of PHD inputs in ``ingested_file``
FORMAT = "IMS2.0 PHD"


def store_root(settings: Settings) -> Path:
    """Where the ingested PHD messages are kept (``$IDC_HOME/radionuclide``)."""
    return settings.home / "radionuclide"


def is_phd_message(path: str | Path) -> bool:
    """``BEGIN IMS2.0`` … ``DATA_TYPE SAMPLEPHD|CALIBPHD|…`` at the start of the file."""
    return phd.is_phd(path)


@dataclass
class IngestedSample:
    """One stored sample (JSON-able via :meth:`as_dict`)."""

    sample_id: int
    source: str
    station: str
    detector: str
    data_type: str
    qualifier: str
    srid: str
    measurement_id: str
    file: str
    replaced: bool
    kind: str = ""
    category: int | None = None
    detected: list[str] = field(default_factory=list)
    error: str = ""
    released: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("released")
        return d


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")[:80] or "x"


def stored_name(info: phd.SampleInfo) -> str:
    """The sample's file under :func:`store_root` (one per sample key)."""
    t = info.collection_start or info.acquisition_start
    year = f"{t.year:04d}" if t is not None else "unknown"
    q = f"_{_safe(info.qualifier)}" if info.qualifier else ""
    return f"{_safe(info.station)}/{year}/{info.data_type}_{_safe(info.detector)}_{_safe(info.measurement_id)}{q}.PHD"


def _epoch(t) -> float | None:
    return None if t is None else float(t.timestamp)


def _nuclide_rows(rep: dict) -> list[dict]:
    return [{"nuclide": n["nuclide"], "detected": bool(n["detected"]), "energy_kev": n.get("energy_keV"),
             "net_counts": n.get("net_counts"), "net_counts_sigma": n.get("net_counts_sigma"),
             "activity_bq": n.get("activity_Bq"), "activity_sigma_bq": n.get("activity_sigma_Bq"),
             "mda_bq": n.get("mda_Bq"), "concentration_mbq_m3": n.get("concentration_mBq_m3"),
             "concentration_sigma_mbq_m3": n.get("concentration_sigma_mBq_m3"),
             "lc_mbq_m3": n.get("lc_mBq_m3"), "mdc_mbq_m3": n.get("mdc_mBq_m3")} for n in rep.get("nuclides", [])]


def _write_copy(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def ingest_phd(settings: Settings, path: str | Path, source: str | None = None, sha256: str | None = None,
               size: int | None = None, echo: Callable[[str], None] | None = None) -> IngestedSample:
    """Read, keep, analyse and store one PHD message (module docstring).

    :param source: the input's name in messages and rows (default: the path)
    :param sha256: the input's content hash (computed when not given)
    :raises PHDError: the message cannot be read (names ``source``, the block and the line)
    :raises OSError: the copy cannot be written
    """
    from pipeline import __version__
    from pipeline.radionuclide.analyse import analyse_file
    from pipeline.util import sha256_file

    path = Path(path)
    source = source or str(path)
    try:
        msg = phd.read_phd(path)
        if "#Header" not in msg:
            raise phd.PHDError(str(path), "#Header", 0, "block missing (every PHD message starts with a #Header)")
        info = phd.sample_info(msg)
    except phd.PHDError as exc:  # name the input as the operator gave it
        raise phd.PHDError(source, exc.block, exc.line, exc.reason) from None
    if not info.measurement_id:
        raise phd.PHDError(source, "#Header", msg.blocks["#Header"].first_line + 3, "no measurement id")
    sha = sha256 or sha256_file(path)
    root = store_root(settings)
    rel = stored_name(info)
    ensure_schema(settings.database_url)

    with session_scope(settings.database_url) as s:
        backgrounds = [b for b in (rn_store.background_file(s, info.station, info.detector, mid)
                                   for mid in (info.detector_bk_measurement_id, info.gas_bk_measurement_id)
                                   if mid and mid != "0" and mid != info.measurement_id) if b]
        history = (rn_store.concentration_history(s, info.station, _epoch(info.collection_start),
                                                  limit=settings.radionuclide.history_samples)
                   if info.collection_start is not None and "#Histogram" not in msg else None)
    kind, category, reason, error, report = "", None, "", "", {}
    try:
        report = analyse_file(path, config=settings.radionuclide,
                              backgrounds=[root / b for b in backgrounds if (root / b).is_file()], history=history or None)
        report["file"] = rel
        kind, reason = report["kind"], report["category"].get("reason", "")
        category = report["category"].get("level")
    except Exception as exc:  # a readable message whose analysis fails is kept, with the reason
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        if echo:
            echo(f"WARNING {source}: stored without analysis ({error})")

    _write_copy(path, root / rel)
    sample = {"station": info.station, "detector": info.detector, "system_type": info.system_type or "",
              "data_type": info.data_type, "qualifier": info.qualifier or "", "srid": info.srid or "",
              "measurement_id": info.measurement_id, "detector_bk_measurement_id": info.detector_bk_measurement_id or "",
              "gas_bk_measurement_id": info.gas_bk_measurement_id or "", "msg_id": msg.msg_id or "",
              "collection_start": _epoch(info.collection_start), "collection_stop": _epoch(info.collection_stop),
              "acquisition_start": _epoch(info.acquisition_start), "real_time_s": info.real_time_s,
              "live_time_s": info.live_time_s, "air_volume_m3": info.air_volume_m3,
              "xe_volume_cm3": info.xe_volume_cm3, "file": rel, "sha256": sha, "source": source}
    analysis = {"kind": kind, "category": category, "category_reason": reason, "report": report, "error": error,
                "software_version": __version__}
    ingested = {"sha256": sha, "source": source, "format": FORMAT,
                "size_bytes": size if size is not None else path.stat().st_size, "ntraces": 0, "nsamples": 0}
    nuclides = _nuclide_rows(report)
    with session_scope(settings.database_url) as s:
        done = rn_store.replace_sample(s, sample, analysis, nuclides, ingested)
    if done.old_file and done.old_file != rel:  # the key's copy moved (e.g. a corrected collection year)
        old = root / done.old_file
        if old.is_file():
            old.unlink()
    return IngestedSample(done.sample_id, source, info.station, info.detector, info.data_type, info.qualifier or "",
                          info.srid or "", info.measurement_id, rel, done.replaced, kind, category,
                          [n["nuclide"] for n in nuclides if n["detected"]], error, done.released)
