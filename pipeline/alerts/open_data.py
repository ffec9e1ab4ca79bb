"""Open exports for scientists: a product's catalogue as Parquet tables and archive waveforms as
NetCDF (xarray), readable by pandas/pyarrow and xarray without any idc-pipeline code.

Catalogue (:func:`catalog_tables`, :func:`write_catalog_parquet`): four tables over the **newest
version** of every window of the product that overlaps ``[start, end)``, events whose preferred
origin time is in ``[start, end)``:

* ``events`` — event_id, product, version, window_start/end, time (UTC), latitude, longitude,
  depth_km, magnitude + magnitude_type (the preferred = first network magnitude of the preferred
  origin), region, nass, ndef, origin_id;
* ``origins`` — every origin of those events with the 90 % ellipse (smajax_km, sminax_km,
  strike_deg), sdepth_km, stime_s, rms_s (origerr);
* ``magnitudes`` — network magnitudes (netmag): type, value, uncertainty, nsta;
* ``arrivals`` — arrival + assoc: station, channel, phase, time, backazimuth, slowness (s/deg),
  amplitude (nm), period (s), snr, distance_deg, esaz, time/azimuth/slowness residuals and
  defining flags.

``event_id`` is the fdsnws-event id (``<TYPE>-<window start>-<window end>-<rank by origin time>``),
so rows can be joined with what ``/fdsnws/event/1/query`` serves. Units are in the column names.
Times are ``timestamp[us, UTC]``.

Waveforms (:func:`waveform_dataset`, :func:`write_waveforms_netcdf`): one ``channel × time``
array per sampling rate, named ``counts_<rate>hz`` (e.g. ``counts_100hz``) with dimensions
``channel_<rate>hz`` and ``time_<rate>hz``: the time coordinate is the common sample grid of that
rate from the requested start (datetime64, CF ``time``), the channel coordinate the SEED ids
``NET.STA.LOC.CHA``, with per-channel coordinates network, station, location, channel_code, latitude,
longitude, elevation_km and ``time_offset_s`` (the channel's first sample minus the grid time it is
placed at, below half a sample: digitisers are not all on the same grid). Integer counts (int32 on
disk, gaps and times without data as the ``_FillValue``, NaN when read back); written with
xarray's netCDF4 engine (CF-1.8, NetCDF-4).
"""
from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from obspy import UTCDateTime

from pipeline.store.products import event_id

TABLES = ("events", "origins", "magnitudes", "arrivals")


def _ts(x) -> pd.Series:
    return pd.to_datetime(pd.Series(x, dtype="float64"), unit="s", utc=True).astype("datetime64[us, UTC]")


def catalog_tables(settings, product: str, start, end, public_rule: dict | None = None) -> dict[str, pd.DataFrame]:
    """The four catalogue tables (see the module docstring).

    :param public_rule: only events passing the public rule: ``{"min_magnitude", "magnitude_type",
        "min_age_days", "now"}`` (magnitude of that type — else the preferred — ≥ min, origin time at
        least min_age_days before now), as the access policy gives the public (``[access.public_events]``)
    """
    from pipeline.store.catalog import EventRows
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import newest_overlapping

    t1, t2 = float(UTCDateTime(start).timestamp), float(UTCDateTime(end).timestamp)
    if not t2 > t1:
        raise ValueError(f"end {UTCDateTime(end)} must be after start {UTCDateTime(start)}")
    ensure_schema(settings.database_url)
    ev_rows, or_rows, mag_rows, ar_rows = [], [], [], []
    n_products = n_in_window = 0
    with session_scope(settings.database_url) as s:
        for prod in newest_overlapping(s, product, t1, t2):
            n_products += 1
            pid = prod.id
            rows = EventRows.of_product(s, pid, arrivals=False, details=False)
            origins, errs, netmags = rows.origins, rows.errs, rows.netmags
            events = [e for e in rows.events if e.prefor in origins]
            events.sort(key=lambda e: (origins[e.prefor].time, e.evid))
            ids = {}
            for rank, e in enumerate(events, start=1):  # rank over the whole version, as fdsnws-event
                ids[e.evid] = event_id(prod.type, prod.window_start, prod.window_end, rank)
            keep = set()
            for e in events:
                o = origins[e.prefor]
                if not t1 <= o.time < t2:
                    continue
                n_in_window += 1
                mags = netmags.get(o.orid, [])
                pref = mags[0] if mags else None
                if public_rule is not None:
                    mt = public_rule.get("magnitude_type") or ""
                    cand = [x for x in mags if x.magtype.lower() == mt.lower()] if mt else mags[:1]
                    if not cand or cand[0].magnitude < public_rule["min_magnitude"] or \
                            o.time > public_rule["now"] - public_rule["min_age_days"] * 86400.0:
                        continue
                keep.add(e.evid)
                ev_rows.append({"event_id": ids[e.evid], "product": prod.type, "version": prod.version,
                                "window_start": prod.window_start, "window_end": prod.window_end,
                                "time": o.time, "latitude": o.lat, "longitude": o.lon, "depth_km": o.depth,
                                "magnitude": None if pref is None else pref.magnitude,
                                "magnitude_type": None if pref is None else pref.magtype,
                                "region": e.evname or "", "nass": o.nass, "ndef": o.ndef, "origin_id": o.orid})
            for o in origins.values():
                if o.evid not in keep:
                    continue
                er = errs.get(o.orid)
                or_rows.append({"event_id": ids[o.evid], "origin_id": o.orid,
                                "preferred": any(e.prefor == o.orid for e in events if e.evid == o.evid),
                                "time": o.time, "latitude": o.lat, "longitude": o.lon, "depth_km": o.depth,
                                "smajax_km": er.smajax if er else None, "sminax_km": er.sminax if er else None,
                                "strike_deg": er.strike if er else None, "sdepth_km": er.sdepth if er else None,
                                "stime_s": er.stime if er else None, "rms_s": er.sdobs if er else None,
                                "nass": o.nass, "ndef": o.ndef, "algorithm": o.algorithm})
                for n in netmags.get(o.orid, []):
                    mag_rows.append({"event_id": ids[o.evid], "origin_id": o.orid, "magnitude_id": n.magid,
                                     "magnitude_type": n.magtype, "magnitude": n.magnitude,
                                     "uncertainty": n.uncertainty, "nsta": n.nsta})
            kept_orids = {o.orid for o in origins.values() if o.evid in keep}
            if kept_orids:
                rows.read_arrivals(s, pid)
                for a, r in (pair for orid in sorted(kept_orids) for pair in rows.pairs(orid)):
                    ar_rows.append({"event_id": ids[origins[a.orid].evid], "origin_id": a.orid, "arrival_id": r.arid,
                                    "network": r.net, "station": r.sta, "channel": r.chan,
                                    "phase": a.phase or r.iphase, "time": r.time,
                                    "backazimuth_deg": r.azimuth, "slowness_s_per_deg": r.slow,
                                    "amplitude_nm": r.amp, "period_s": r.per, "snr": r.snr,
                                    "distance_deg": a.delta, "esaz_deg": a.esaz, "time_residual_s": a.timeres,
                                    "azimuth_residual_deg": a.azres, "slowness_residual_s_per_deg": a.slores,
                                    "time_defining": a.timedef == "d", "azimuth_defining": a.azdef == "d",
                                    "slowness_defining": a.slodef == "d"})
    out = {"events": pd.DataFrame(ev_rows, columns=list(_EV_COLS)), "origins": pd.DataFrame(or_rows, columns=list(_OR_COLS)),
           "magnitudes": pd.DataFrame(mag_rows, columns=list(_MAG_COLS)),
           "arrivals": pd.DataFrame(ar_rows, columns=list(_AR_COLS))}
    for name, df in out.items():
        for col in ("time", "window_start", "window_end"):
            if col in df:
                df[col] = _ts(df[col].to_numpy(dtype="float64"))
        for col in df.columns:
            if df[col].dtype == object and col not in ("event_id", "product", "magnitude_type", "region", "network",
                                                       "station", "channel", "phase", "algorithm"):
                df[col] = pd.to_numeric(df[col])
        df.attrs.update({"product": product, "start": str(UTCDateTime(start)), "end": str(UTCDateTime(end)),
                         "product_versions": n_products, "events_in_window": n_in_window})
    return out


def empty_note(tables: dict[str, pd.DataFrame], public_rule: dict | None = None) -> str:
    """Why the ``events`` table of :func:`catalog_tables` is empty ("" when it is not): no product
    published for the window, no events in it, or none passing the public rule."""
    ev = tables["events"]
    if len(ev):
        return ""
    a = ev.attrs
    what = f"{a['product']} {a['start']} - {a['end']}"
    if not a["product_versions"]:
        return f"no {a['product']} product has been published for {a['start']} - {a['end']}"
    if not a["events_in_window"] or public_rule is None:
        return f"{what}: the published {a['product']} holds no events in this window"
    mt = public_rule.get("magnitude_type") or "preferred magnitude"
    return (f"{what}: {a['events_in_window']} events, none of them public yet (the public may read events with "
            f"{mt} >= {public_rule['min_magnitude']:g} older than {public_rule['min_age_days']:g} days; "
            "an account may read all)")


_EV_COLS = ("event_id", "product", "version", "window_start", "window_end", "time", "latitude", "longitude", "depth_km",
            "magnitude", "magnitude_type", "region", "nass", "ndef", "origin_id")
_OR_COLS = ("event_id", "origin_id", "preferred", "time", "latitude", "longitude", "depth_km", "smajax_km",
            "sminax_km", "strike_deg", "sdepth_km", "stime_s", "rms_s", "nass", "ndef", "algorithm")
_MAG_COLS = ("event_id", "origin_id", "magnitude_id", "magnitude_type", "magnitude", "uncertainty", "nsta")
_AR_COLS = ("event_id", "origin_id", "arrival_id", "network", "station", "channel", "phase", "time",
            "backazimuth_deg", "slowness_s_per_deg", "amplitude_nm", "period_s", "snr", "distance_deg", "esaz_deg",
            "time_residual_s", "azimuth_residual_deg", "slowness_residual_s_per_deg", "time_defining",
            "azimuth_defining", "slowness_defining")


def parquet_bytes(df: pd.DataFrame, meta: dict | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md.update({f"idc:{k}".encode(): str(v).encode() for k, v in (meta or {}).items()})
    table = table.replace_schema_metadata(md)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def write_catalog_parquet(settings, product: str, start, end, out: str | Path,
                          public_rule: dict | None = None) -> dict:
    """Write ``<out>/{events,origins,magnitudes,arrivals}.parquet`` (``out`` a folder)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = catalog_tables(settings, product, start, end, public_rule)
    meta = {"product": product, "start": str(UTCDateTime(start)), "end": str(UTCDateTime(end)),
            "source": "idc-pipeline"}
    if empty_note(tables, public_rule):
        meta["note"] = empty_note(tables, public_rule)
    files = {}
    for name, df in tables.items():
        p = out / f"{name}.parquet"
        tmp = p.with_name(f".{p.name}.partial")
        tmp.write_bytes(parquet_bytes(df, {**meta, "table": name}))
        tmp.replace(p)
        files[name] = str(p)
    note = empty_note(tables, public_rule)
    return {"product": product, "format": "parquet", "files": files,
            **{name: len(df) for name, df in tables.items()}, **({"note": note} if note else {})}


# --------------------------------------------------------------------------- waveforms
def _match(patterns: str, code: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(code, p.strip()) for p in (patterns or "*").split(","))


def waveform_dataset(settings, start, end, network: str = "*", station: str = "*", location: str = "*",
                     channel: str = "*", max_channel_seconds: float | None = None):
    """xarray Dataset of the archived samples in ``[start, end)`` of the matching channels."""
    import xarray as xr
    from obspy import Stream
    from obspy.clients.filesystem.sds import Client

    from pipeline.store.availability import channels_overlapping
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.stations import site_positions_at

    t1, t2 = UTCDateTime(start), UTCDateTime(end)
    if not t2 > t1:
        raise ValueError(f"end {t2} must be after start {t1}")
    ensure_schema(settings.database_url)
    with session_scope(settings.database_url) as s:
        rows = channels_overlapping(s, t1.timestamp, t2.timestamp)
        chans = sorted({tuple(r) for r in rows if _match(network, r[0]) and _match(station, r[1])
                        and _match(location or "*", r[2]) and _match(channel, r[3])})
        sites = site_positions_at(s, t1.timestamp)
    limit = max_channel_seconds if max_channel_seconds is not None else settings.service.dataselect_max_channel_seconds
    if len(chans) * (t2 - t1) > limit:
        raise ValueError(f"{len(chans)} channels × {t2 - t1:.0f} s exceed the limit of {limit:.0f} channel-seconds")
    ds = xr.Dataset(attrs={"title": "idc-pipeline waveforms", "source": "SDS archive of idc-pipeline",
                           "starttime": str(t1), "endtime": str(t2), "Conventions": "CF-1.8"})
    if not chans or not settings.archive_dir.is_dir():
        return ds
    client = Client(str(settings.archive_dir), sds_type=settings.ingest.sds_type)
    by_rate: dict[float, list] = {}
    for net, sta, loc, cha in chans:
        st = client.get_waveforms(net, sta, loc, cha, t1, t2)
        st.trim(t1, t2 - 1e-6, nearest_sample=False)
        st = Stream([tr for tr in st if tr.stats.npts > 0])
        if not len(st):
            continue
        st.merge(method=1, fill_value=None)
        by_rate.setdefault(float(st[0].stats.sampling_rate), []).append(((net, sta, loc, cha), st[0]))
    for rate in sorted(by_rate):
        tag = f"{rate:g}".replace(".", "p") + "hz"
        n = int(math.ceil((t2 - t1) * rate - 1e-9))
        grid0 = np.datetime64(t1.datetime, "ns")
        times = grid0 + (np.arange(n) * 1e9 / rate).round().astype("timedelta64[ns]")
        data = np.full((len(by_rate[rate]), n), np.nan)
        meta = {k: [] for k in ("network", "station", "location", "channel_code", "latitude", "longitude",
                                "elevation_km", "time_offset_s")}
        ids = []
        for row, ((net, sta, loc, cha), tr) in enumerate(by_rate[rate]):
            k0 = int(round((tr.stats.starttime - t1) * rate))
            offset = float(tr.stats.starttime - t1) - k0 / rate
            vals = np.ma.filled(np.ma.masked_array(tr.data).astype("float64"), np.nan)
            lo, hi = max(k0, 0), min(k0 + vals.size, n)
            if hi > lo:
                data[row, lo:hi] = vals[lo - k0:hi - k0]
            lat, lon, elev = sites.get((net, sta), (math.nan, math.nan, math.nan))
            ids.append(tr.id)
            for key, v in zip(meta, (net, sta, loc, cha, lat, lon, elev, round(offset, 9))):
                meta[key].append(v)
        cdim, tdim = f"channel_{tag}", f"time_{tag}"
        coords = {cdim: ids, tdim: times}
        coords.update({f"{key}_{tag}": (cdim, vals) for key, vals in meta.items()})
        ds[f"counts_{tag}"] = xr.DataArray(
            data, dims=(cdim, tdim), coords=coords,
            attrs={"long_name": f"ground motion in digitiser counts, {rate:g} Hz channels", "units": "counts",
                   "sampling_rate_hz": rate})
        ds[tdim].attrs.update({"standard_name": "time", "long_name": f"sample time of the {rate:g} Hz grid"})
        ds[f"latitude_{tag}"].attrs.update({"standard_name": "latitude", "units": "degrees_north"})
        ds[f"longitude_{tag}"].attrs.update({"standard_name": "longitude", "units": "degrees_east"})
        ds[f"elevation_km_{tag}"].attrs.update({"units": "km"})
        ds[f"time_offset_s_{tag}"].attrs.update({"units": "s", "long_name": "first sample minus its grid time"})
    return ds


def write_waveforms_netcdf(ds, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    enc = {}
    for name, da in ds.data_vars.items():
        vals = da.values[np.isfinite(da.values)]
        if vals.size and np.all(vals == np.round(vals)) and np.abs(vals).max() < 2**31 - 1:
            enc[name] = {"dtype": "int32", "_FillValue": np.int32(-2**31), "zlib": True, "complevel": 4}
        else:
            enc[name] = {"zlib": True, "complevel": 4}
    tmp = out.with_name(f".{out.name}.partial")
    ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=enc)
    tmp.replace(out)
    return out


def netcdf_bytes(ds) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = write_waveforms_netcdf(ds, Path(d) / "w.nc")
        return p.read_bytes()
