"""Fusion of stored radionuclide samples with the events of a stored waveform product
(``idc radionuclide fuse``): the SRS field of each sample (from FLEXPART-style NetCDF files, or
the backward puff model of :mod:`pipeline.radionuclide.backtrack` in a uniform or supplied wind),
their possible source region, and which events of the product fall inside it.

A sample is named by its stored id, SRID, measurement id or MSG_ID (``idc ingest`` stored it), or
by a PHD file. In a NetCDF file, a sample's release is the one whose ``RELCOM`` is its SRID,
MSG_ID, measurement id or station code; a file with one release serves one sample. The puff model
needs the receptor: ``receptor=(lat, lon)``, else the station's newest coordinates in the site table
(``idc stations load``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pipeline.radionuclide import backtrack as bt
from pipeline.radionuclide import phd
from pipeline.settings import Settings
from pipeline.store import radionuclide as rn_store
from pipeline.store.db import ensure_schema, session_scope


@dataclass(frozen=True)
class SampleRef:
    name: str
    station: str
    srid: str
    msg_id: str
    measurement_id: str
    collection_start: float
    collection_stop: float
    detected: tuple[str, ...] = ()


def resolve_samples(settings: Settings, refs: Sequence[str]) -> list[SampleRef]:
    """Stored samples (or PHD files) named by ``refs``; every one must have a collection."""
    out = []
    for ref in refs:
        p = Path(ref)
        if p.is_file():
            info = phd.sample_info(phd.read_phd(p))
            if info.collection_start is None:
                raise bt.BacktrackError(f"{ref}: {info.data_type} without #Collection: nothing to backtrack")
            out.append(SampleRef(info.srid or p.name, info.station, info.srid, info.msg_id, info.measurement_id,
                                 float(info.collection_start.timestamp), float(info.collection_stop.timestamp)))
            continue
        with session_scope(settings.database_url) as s:
            found = rn_store.find_samples(s, ref)
        if not found:
            raise bt.BacktrackError(f"sample {ref!r}: no stored sample with that id, SRID, measurement id or MSG_ID "
                                    "(ingest the PHD message with `idc ingest`, or give the file)")
        if len(found) > 1:
            raise bt.BacktrackError(f"sample {ref!r} names {len(found)} stored samples "
                                    f"({', '.join(f'{x.id} {x.data_type} {x.qualifier}' for x in found)}); give the id")
        x = found[0]
        if x.collection_start is None or x.collection_stop is None:
            raise bt.BacktrackError(f"sample {ref!r} ({x.data_type}) has no collection: nothing to backtrack")
        out.append(SampleRef(x.srid or str(x.id), x.station, x.srid, x.msg_id, x.measurement_id, x.collection_start,
                             x.collection_stop, tuple(n["nuclide"] for n in x.nuclides if n["detected"])))
    return out


def _from_files(samples: list[SampleRef], files: Sequence[str | Path], notes: list[str]):
    fields = [bt.read_srs_netcdf(f) for f in files]
    chosen = []
    for smp in samples:
        keys = {k for k in (smp.srid, smp.msg_id, smp.measurement_id, smp.station) if k}
        hit = [(f, i) for f in fields for i, nm in enumerate(f["sample"].values) if str(nm) in keys]
        if not hit and len(samples) == 1 and sum(f.sizes["sample"] for f in fields) == 1:
            hit = [(fields[0], 0)]
        if not hit:
            names = [str(n) for f in fields for n in f["sample"].values]
            raise bt.BacktrackError(f"sample {smp.name}: no release named {' / '.join(sorted(keys))} in the SRS "
                                    f"file(s) (releases: {', '.join(names)})")
        f, i = hit[0]
        if "collection_start" in f.coords:  # the release should be the sample's collection
            rel = [bt._epoch(f["collection_start"].values[i]), bt._epoch(f["collection_stop"].values[i])]
            off = max(abs(rel[0] - smp.collection_start), abs(rel[1] - smp.collection_stop))
            if off > 3600:
                notes.append(f"sample {smp.name}: the SRS release ({f['collection_start'].values[i]} - "
                             f"{f['collection_stop'].values[i]}) differs from its collection by {off / 3600:.1f} h")
        chosen.append(f.isel(sample=[i]).assign_coords(sample=[smp.name]))
    return bt.combine_fields(chosen)


def _receptor(settings: Settings, smp: SampleRef, receptor) -> tuple[float, float]:
    if receptor is not None:
        return float(receptor[0]), float(receptor[1])
    from pipeline.store.stations import newest_sites

    with session_scope(settings.database_url) as s:
        hits = [(x.lat, x.lon) for x in newest_sites(s) if x.sta == smp.station]
    if not hits:
        raise bt.BacktrackError(f"sample {smp.name}: station {smp.station} is not in the site table; give the "
                                "receptor (--receptor LAT,LON) or load the station (`idc stations load`)")
    return hits[0]


def fuse_samples(settings: Settings, refs: Sequence[str], product: str, start=None, end=None, *,
                 srs_files: Sequence[str | Path] = (), wind: tuple[float, float] | None = None,
                 wind_file: str | Path | None = None, receptor: tuple[float, float] | None = None,
                 hours_back: float = 72.0, time_step_s: float = 3600.0, grid_half_width_deg: float = 20.0,
                 grid_step_deg: float = 0.5, threshold: float = 0.1, combine: str = "all",
                 time_tolerance_s: float = 0.0) -> dict:
    """The source region of the samples and the events of ``product`` in it (JSON-able dict:
    ``samples``, ``srs`` (where the fields came from), ``region`` (:func:`backtrack.region_summary`),
    ``window``, ``events_examined``, ``candidates`` and ``others`` with time, lat, lon, depth,
    magnitudes, score and reason; ``notes``: e.g. an SRS release that is not the sample's collection)."""
    import numpy as np

    if not refs:
        raise bt.BacktrackError("give at least one sample")
    ensure_schema(settings.database_url)
    samples = resolve_samples(settings, refs)
    notes: list[str] = []
    if srs_files:
        srs = _from_files(samples, srs_files, notes)
        how = {"source": "netcdf", "files": [str(f) for f in srs_files]}
    else:
        if wind_file is not None:
            import xarray as xr

            with xr.open_dataset(wind_file) as ds:
                wfield = bt.gridded_wind(ds.load())
            how = {"source": "puff model", "wind": str(wind_file)}
        elif wind is not None:
            wfield = bt.uniform_wind(*wind)
            how = {"source": "puff model", "wind": {"u_m_s": wind[0], "v_m_s": wind[1]}}
        else:
            raise bt.BacktrackError("no SRS field: give NetCDF SRS file(s), a uniform wind (u, v) or a wind file")
        fields = []
        for smp in samples:
            lat, lon = _receptor(settings, smp, receptor)
            fields.append(bt.puff_srs(lat, lon, smp.collection_start, smp.collection_stop, wind=wfield,
                                      grid=bt.Grid.around(lat, lon, grid_half_width_deg, grid_step_deg),
                                      hours_back=hours_back, time_step_s=time_step_s, name=smp.name))
        srs = bt.combine_fields(fields) if len(fields) > 1 else fields[0]
    region, score = bt.source_region(srs, threshold, combine)
    times = srs["time"].values.astype("datetime64[ns]").astype("int64") / 1e9
    step = float(srs.attrs.get("time_step_s") or 3600.0)
    t0 = bt._epoch(start) if start is not None else float(times.min())
    t1 = bt._epoch(end) if end is not None else float(times.max() + step)
    with session_scope(settings.database_url) as s:
        events = rn_store.product_origins(s, product.upper(), t0, t1)
    result = bt.fuse(region, score, events, time_tolerance_s=time_tolerance_s)

    def row(c: bt.Candidate) -> dict:
        e = c.event
        return {"evid": e.evid, "public_id": e.public_id, "product": e.product, "version": e.version,
                "time": str(np.datetime64(int(round(e.time * 1e3)), "ms")) + "Z", "lat": e.lat, "lon": e.lon,
                "depth_km": e.depth, "mb": e.mb, "ml": e.ml, "ms": e.ms, "score": round(c.score, 4),
                "reason": c.reason}
    return {"samples": [{"name": x.name, "station": x.station, "collection": [
                str(np.datetime64(int(x.collection_start), "s")) + "Z",
                str(np.datetime64(int(x.collection_stop), "s")) + "Z"], "detected": list(x.detected)} for x in samples],
            "srs": how, "threshold": threshold, "combine": combine,
            "region": bt.region_summary(region, score),
            "window": [str(np.datetime64(int(t0), "s")) + "Z", str(np.datetime64(int(t1), "s")) + "Z"],
            "product": product.upper(), "events_examined": len(result),
            "candidates": [row(c) for c in result if c.inside], "others": [row(c) for c in result if not c.inside],
            "notes": notes}
