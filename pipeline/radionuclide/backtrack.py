"""Backtracking of radionuclide detections and their fusion with waveform events (issue 17, item 4).

**Source–receptor sensitivity (SRS).** For a sample collected at a receptor over
[collection_start, collection_stop), the SRS field ``M[t, lat, lon]`` (s m-3) says how much a release
in grid cell (lat, lon) during time bin t contributes to the sample's mean concentration:
``c [Bq m-3] = sum over bins and cells of M * q`` with ``q`` the emission rate (Bq s-1) in that cell
and bin. Fields are xarray ``DataArray``s with dims ``(sample, time, lat, lon)``: ``time`` is the
*start* of each bin (attribute ``time_step_s``), ``lat``/``lon`` the cell centres (degrees), and per
sample the coordinates ``collection_start``/``collection_stop`` (datetime64) and ``receptor_lat``/
``receptor_lon``.

Two sources of SRS fields:

* :func:`read_srs_netcdf` — backward-run output of a Lagrangian model in the FLEXPART NetCDF layout
  (``grid_time_*.nc``: variable ``spec001_mr`` with dims ``(nageclass, pointspec, time, height,
  latitude, longitude)``, releases ``RELCOM``/``RELLAT1``/``RELLNG1``/``RELSTART``/``RELEND``, global
  attributes ``ldirect`` and ``loutstep``). The lowest output layer is the sensitivity to a release
  near the ground (configurable). **No real SRS/FLEXPART file was available here**: the layout is
  taken from FLEXPART's NetCDF output description and the tests read a file written in that layout
  with netCDF4; the time-stamp rule below is our reading of it, not checked on a real run.
  Each FLEXPART time stamp closes its averaging interval in the direction of integration, so a
  backward run's (``ldirect = -1``) interval is [stamp, stamp + |loutstep|) and a forward run's
  [stamp - loutstep, stamp).
* :func:`puff_srs` — a documented simple model, a **backward Gaussian puff** in a uniform wind
  (:func:`uniform_wind`) or a supplied gridded wind (:func:`gridded_wind`, an xarray Dataset with
  ``u``, ``v`` in m/s on ``(time, lat, lon)``). Assumptions: the sampled air is released backward
  from the receptor as ``releases_per_hour`` puffs spread evenly over the collection; each puff's
  centre moves against the wind of its time and place (explicit Euler steps of ``step_s`` on the
  sphere); its horizontal spread is Gaussian with ``sigma = sigma0_m + sigma_rate_m_s * travel
  time`` (long-range dispersion grows about linearly with travel time, of the order of 0.5 m/s,
  Gifford 1982 — configuration); the air is well mixed in a boundary layer of
  ``mixing_height_m`` and never leaves it (no vertical structure, no deposition, no washout);
  radioactive decay during transport is applied when ``half_life_s`` is given. The residence time
  of the puffs in a cell, divided by the cell's air volume (area x mixing height), is ``M``. It is
  a screening model for the shape and timing of the possible source region, not a replacement for
  FLEXPART/HYSPLIT fields driven by meteorological analyses.

**Possible source region.** :func:`source_region`: per sample, the (time, cell) pairs whose
sensitivity is at least ``threshold`` of that sample's maximum; over several detections the pairs
kept by every sample (``combine="all"``: one release explains all of them) or by any
(``combine="any"``).

**Fusion.** :func:`fuse`: an event (origin time, latitude, longitude) is a candidate when its
origin falls in a cell and time bin of the region (optionally ``time_tolerance_s`` either side);
candidates are ranked by their normalised sensitivity (the smallest over the samples).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from pipeline.errors import IdcError

R_EARTH_M = 6_371_000.0
#: ``wind(t_epoch_s, lat_deg, lon_deg) -> (u, v)`` in m/s (eastward, northward), vectorised
WindField = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class BacktrackError(IdcError, ValueError):
    """An SRS field that cannot be read or used (the message names the file or the sample)."""


# ------------------------------------------------------------------ grid and wind


@dataclass(frozen=True)
class Grid:
    """A regular latitude–longitude grid of cell centres ``lat0 + i*dlat``, ``lon0 + j*dlon``."""

    lat0: float
    lon0: float
    nlat: int
    nlon: int
    dlat: float
    dlon: float

    @property
    def lats(self) -> np.ndarray:
        return self.lat0 + self.dlat * np.arange(self.nlat)

    @property
    def lons(self) -> np.ndarray:
        return self.lon0 + self.dlon * np.arange(self.nlon)

    @classmethod
    def around(cls, lat: float, lon: float, half_width_deg: float = 20.0, step_deg: float = 0.5) -> "Grid":
        """A square grid of ``2*half_width_deg`` centred on (lat, lon) (latitudes clipped to ±89.75)."""
        n = int(round(2 * half_width_deg / step_deg)) + 1
        lat0 = max(-89.75, min(lat - half_width_deg, 89.75 - (n - 1) * step_deg))
        return cls(lat0, lon - half_width_deg, n, n, step_deg, step_deg)


def uniform_wind(u: float, v: float) -> WindField:
    """The same wind (m/s eastward, northward) everywhere and always."""
    def wind(t, lat, lon):
        shape = np.shape(lat)
        return np.full(shape, float(u)), np.full(shape, float(v))
    return wind


def gridded_wind(ds) -> WindField:
    """A wind from an xarray Dataset with ``u`` and ``v`` (m/s) on ``(time, lat, lon)``: linear
    interpolation in time and space (scipy ``RegularGridInterpolator``), the nearest edge value
    outside the grid."""
    from scipy.interpolate import RegularGridInterpolator

    for name in ("u", "v"):
        if name not in ds or set(ds[name].dims) != {"time", "lat", "lon"}:
            raise BacktrackError(f"wind field: expected variables u and v on (time, lat, lon), got {list(ds.data_vars)}")
    ds = ds.sortby("time").sortby("lat").sortby("lon")
    axes = (ds["time"].values.astype("datetime64[ns]").astype("int64") / 1e9, ds["lat"].values.astype(float),
            ds["lon"].values.astype(float))
    if min(len(a) for a in axes) < 2:
        raise BacktrackError("wind field: at least two times, latitudes and longitudes are needed")
    interp = [RegularGridInterpolator(axes, ds[k].transpose("time", "lat", "lon").values.astype(float))
              for k in ("u", "v")]
    lo, hi = [a[0] for a in axes], [a[-1] for a in axes]

    def wind(t, lat, lon):
        shape = np.shape(lat)
        pts = np.column_stack([np.clip(np.broadcast_to(x, shape).ravel(), a, b)
                               for x, a, b in zip((t, lat, lon), lo, hi)])
        return interp[0](pts).reshape(shape), interp[1](pts).reshape(shape)
    return wind


def _epoch(t) -> float:
    """datetime64 / UTCDateTime / ISO text / epoch seconds → epoch seconds."""
    if isinstance(t, (int, float)):
        return float(t)
    if isinstance(t, np.datetime64):
        return t.astype("datetime64[ns]").astype("int64") / 1e9
    from obspy import UTCDateTime

    return float(UTCDateTime(t).timestamp)


def _dt64(epoch: float) -> np.datetime64:
    return np.datetime64(int(round(epoch * 1e3)), "ms").astype("datetime64[ns]")


# ------------------------------------------------------------------ simple model


@dataclass(frozen=True)
class PuffModel:
    """Parameters of :func:`puff_srs` (module docstring); the defaults are configuration."""

    sigma0_m: float = 10_000.0
    sigma_rate_m_s: float = 0.5
    mixing_height_m: float = 1000.0
    step_s: float = 600.0
    releases_per_hour: float = 2.0
    half_life_s: float | None = None


def puff_srs(receptor_lat: float, receptor_lon: float, collection_start, collection_stop, *,
             wind: WindField, grid: Grid | None = None, hours_back: float = 72.0, time_step_s: float = 3600.0,
             model: PuffModel = PuffModel(), name: str = "sample"):
    """The SRS field of one sample by the backward Gaussian puff model (module docstring).

    :returns: DataArray ``(sample, time, lat, lon)`` in s m-3, bins of ``time_step_s`` from
        ``hours_back`` before the collection start to its stop
    """
    import xarray as xr

    t0, t1 = _epoch(collection_start), _epoch(collection_stop)
    if not t1 > t0:
        raise BacktrackError(f"sample {name}: collection stop {collection_stop} is not after its start {collection_start}")
    grid = grid or Grid.around(receptor_lat, receptor_lon)
    lats, lons = grid.lats, grid.lons
    first = math.floor((t0 - hours_back * 3600.0) / time_step_s) * time_step_s
    nbins = int(math.ceil((t1 - first) / time_step_s))
    field = np.zeros((nbins, grid.nlat, grid.nlon))
    npuff = max(1, int(round((t1 - t0) / 3600.0 * model.releases_per_hour)))
    t_rel = t0 + (np.arange(npuff) + 0.5) * (t1 - t0) / npuff
    plat = np.full(npuff, float(receptor_lat))
    plon = np.full(npuff, float(receptor_lon))
    # cell areas (m2) and air volumes (m3)
    area = ((R_EARTH_M * math.radians(grid.dlat)) * (R_EARTH_M * math.radians(grid.dlon))
            * np.cos(np.radians(lats)))[:, None] * np.ones(grid.nlon)[None, :]
    volume = area * model.mixing_height_m
    lat_c, lon_c = lats[None, :, None], lons[None, None, :]
    t = t_rel.copy()
    end = first
    dt = model.step_s
    while True:
        active = t > end
        if not active.any():
            break
        step = np.minimum(dt, t - end)
        tau = t_rel - (t - step / 2)  # travel time at the middle of the step
        mid_t = t - step / 2
        # puff centre at the middle of the step (half a step against the wind)
        u, v = wind(mid_t, plat, plon)
        mlat = plat - np.degrees(v * step / 2 / R_EARTH_M)
        mlon = plon - np.degrees(u * step / 2 / (R_EARTH_M * np.cos(np.radians(plat))))
        sigma = model.sigma0_m + model.sigma_rate_m_s * tau
        dy = np.radians(lat_c - mlat[:, None, None]) * R_EARTH_M
        dlon = (lon_c - mlon[:, None, None] + 180.0) % 360.0 - 180.0
        dx = np.radians(dlon) * R_EARTH_M * np.cos(np.radians(mlat))[:, None, None]
        g = np.exp(-(dx * dx + dy * dy) / (2 * sigma[:, None, None] ** 2))
        frac = g * area[None] / (2 * math.pi * sigma[:, None, None] ** 2)
        inside = ((mlat >= lats[0] - grid.dlat / 2) & (mlat <= lats[-1] + grid.dlat / 2)
                  & (((mlon - lons[0] + grid.dlon / 2) % 360.0) <= grid.nlon * grid.dlon))
        tot = frac.sum(axis=(1, 2))
        norm = np.where(inside & (tot > 0), 1.0 / np.where(tot > 0, tot, 1.0), 1.0)
        frac *= norm[:, None, None]  # a puff inside the grid deposits all its mass there
        weight = step * active / npuff
        if model.half_life_s:
            weight = weight * np.exp(-math.log(2) * tau / model.half_life_s)
        k = np.floor((mid_t - first) / time_step_s).astype(int)
        for p in np.flatnonzero(active & (k >= 0) & (k < nbins)):
            field[k[p]] += weight[p] * frac[p] / volume
        # full step against the wind, with the mid-step wind
        plat = np.where(active, plat - np.degrees(v * step / R_EARTH_M), plat)
        plon = np.where(active, plon - np.degrees(u * step / (R_EARTH_M * np.cos(np.radians(mlat)))), plon)
        plat = np.clip(plat, -89.9, 89.9)
        t = np.where(active, t - step, t)
    times = np.array([_dt64(first + i * time_step_s) for i in range(nbins)])
    return xr.DataArray(
        field[None], dims=("sample", "time", "lat", "lon"), name="srs",
        coords={"sample": [name], "time": times, "lat": lats, "lon": lons,
                "collection_start": ("sample", [_dt64(t0)]), "collection_stop": ("sample", [_dt64(t1)]),
                "receptor_lat": ("sample", [float(receptor_lat)]), "receptor_lon": ("sample", [float(receptor_lon)])},
        attrs={"units": "s m-3", "time_step_s": float(time_step_s), "model": "backward Gaussian puff",
               "sigma0_m": model.sigma0_m, "sigma_rate_m_s": model.sigma_rate_m_s,
               "mixing_height_m": model.mixing_height_m, "step_s": model.step_s,
               "long_name": "source-receptor sensitivity (concentration per emission rate)"})


# ------------------------------------------------------------------ FLEXPART-style NetCDF


def _names(values) -> list[str]:
    out = []
    for v in np.atleast_1d(values):
        if isinstance(v, (bytes, np.bytes_)):
            v = v.decode("ascii", "replace")
        elif isinstance(v, np.ndarray):  # undecoded char array
            v = b"".join(x for x in v.tolist()).decode("ascii", "replace")
        out.append(str(v).strip().strip("\x00").strip())
    return out


def read_srs_netcdf(path: str | Path, variable: str | None = None, height_index: int = 0, ageclass: int = 0):
    """SRS fields of every release (receptor sample) of a FLEXPART-style NetCDF file (module
    docstring), as ``(sample, time, lat, lon)`` with time ascending and bins starting at ``time``.

    :param variable: the field (default ``spec001_mr``, else the first variable on latitude and longitude)
    :param height_index: the output layer (0: the lowest, a release near the ground)
    :raises BacktrackError: the file cannot be opened or has no such field
    """
    import xarray as xr

    p = Path(path)
    try:
        ds = xr.open_dataset(p)
    except (OSError, ValueError) as exc:
        raise BacktrackError(f"{p}: cannot read as NetCDF: {exc}") from None
    with ds:
        if variable is None:
            variable = "spec001_mr" if "spec001_mr" in ds else next(
                (k for k, v in ds.data_vars.items() if {"latitude", "longitude"} <= set(v.dims)
                 or {"lat", "lon"} <= set(v.dims)), None)
        if variable is None or variable not in ds:
            raise BacktrackError(f"{p}: no SRS field (expected spec001_mr or a variable on latitude/longitude)")
        da = ds[variable].load()
        da = da.rename({k: v for k, v in (("latitude", "lat"), ("longitude", "lon"), ("pointspec", "sample"))
                        if k in da.dims})
        if "nageclass" in da.dims:
            da = da.isel(nageclass=ageclass)
        if "height" in da.dims:
            da = da.isel(height=height_index)
        if "sample" not in da.dims:
            da = da.expand_dims("sample")
        if "time" not in da.dims or not np.issubdtype(da["time"].dtype, np.datetime64):
            raise BacktrackError(f"{p}: {variable} has no time axis with a 'seconds since' reference")
        da = da.transpose("sample", "time", "lat", "lon")
        nsamp = da.sizes["sample"]
        names = _names(ds["RELCOM"].values) if "RELCOM" in ds else [f"release {i + 1}" for i in range(nsamp)]
        step = float(abs(ds.attrs.get("loutstep", 0))) or (
            float(np.abs(np.diff(da["time"].values).astype("timedelta64[s]").astype(float)).min()) if da.sizes["time"] > 1
            else 3600.0)
        ldirect = int(ds.attrs.get("ldirect", -1))
        start = da["time"].values if ldirect < 0 else da["time"].values - np.timedelta64(int(step), "s")
        coords = {"sample": names[:nsamp], "time": start}
        reftime = None
        units = ds["time"].encoding.get("units", "")
        if "since" in units:
            reftime = np.datetime64(units.split("since", 1)[1].strip().replace(" ", "T")[:19], "s").astype("datetime64[ns]")
        if reftime is not None and "RELSTART" in ds and "RELEND" in ds:
            rs, re_ = ds["RELSTART"].values, ds["RELEND"].values
            if np.issubdtype(rs.dtype, np.timedelta64):
                rs, re_ = rs.astype("timedelta64[s]").astype(float), re_.astype("timedelta64[s]").astype(float)
            a = np.array([reftime + np.timedelta64(int(x), "s") for x in rs])
            b = np.array([reftime + np.timedelta64(int(x), "s") for x in re_])
            coords["collection_start"] = ("sample", np.minimum(a, b))
            coords["collection_stop"] = ("sample", np.maximum(a, b))
        if "RELLAT1" in ds and "RELLNG1" in ds:
            lat2 = ds["RELLAT2"].values if "RELLAT2" in ds else ds["RELLAT1"].values
            lon2 = ds["RELLNG2"].values if "RELLNG2" in ds else ds["RELLNG1"].values
            coords["receptor_lat"] = ("sample", (ds["RELLAT1"].values + lat2) / 2)
            coords["receptor_lon"] = ("sample", (ds["RELLNG1"].values + lon2) / 2)
        attrs = {"units": da.attrs.get("units", ""), "time_step_s": step, "source": str(p), "variable": variable,
                 "ldirect": ldirect}
    out = da.assign_coords(coords).sortby("time").sortby("lat").sortby("lon")
    out.name, out.attrs = "srs", attrs
    return out.astype(float).fillna(0.0)


# ------------------------------------------------------------------ source region and fusion


def combine_fields(fields: Sequence):
    """Several SRS DataArrays (one or more samples each) on one time axis (bins absent from a
    field are zero there); their grids must be the same."""
    import xarray as xr

    if not fields:
        raise BacktrackError("no SRS field given")
    steps = {float(f.attrs.get("time_step_s", 0)) for f in fields}
    if len(steps) > 1:
        raise BacktrackError(f"SRS fields with different time steps ({sorted(steps)} s) cannot be combined")
    out = xr.concat(list(xr.align(*fields, join="outer", fill_value=0.0, exclude=("sample",))), dim="sample")
    out.attrs = dict(fields[0].attrs)
    return out


def source_region(srs, threshold: float = 0.1, combine: str = "all"):
    """The possible source region: (time, lat, lon) booleans (module docstring), with the
    normalised sensitivity ``score`` (the smallest over the samples for ``all``, the largest for
    ``any``) as a second DataArray. :returns: ``(region, score)``"""
    if not 0 < threshold <= 1:
        raise BacktrackError(f"threshold {threshold}: expected a fraction of the maximum in (0, 1]")
    if combine not in ("all", "any"):
        raise BacktrackError(f"combine {combine!r}: expected 'all' or 'any'")
    peak = srs.max(dim=("time", "lat", "lon"))
    if bool((peak <= 0).any()):
        empty = [str(s) for s in srs["sample"].values[(peak <= 0).values]]
        raise BacktrackError(f"sample(s) {', '.join(empty)}: the SRS field is zero everywhere")
    norm = srs / peak
    score = norm.min("sample") if combine == "all" else norm.max("sample")
    region = score >= threshold
    region.name, score.name = "source_region", "score"
    region.attrs = {"threshold": threshold, "combine": combine, "samples": [str(s) for s in srs["sample"].values],
                    "time_step_s": srs.attrs.get("time_step_s")}
    score.attrs = dict(region.attrs)
    return region, score


def region_summary(region, score) -> dict:
    """Extent of a region: number of cells and bins, lat/lon box, first/last bin, the best cell."""
    any_t = region.any("time")
    cells = int(any_t.sum())
    if not cells:
        return {"cells": 0, "bins": 0}
    lat = region["lat"].values[any_t.any("lon").values]
    lon = region["lon"].values[any_t.any("lat").values]
    times = region["time"].values[region.any(("lat", "lon")).values]
    best = score.where(region).argmax(dim=("time", "lat", "lon"))
    return {"cells": cells, "bins": int(region.any(("lat", "lon")).sum()),
            "lat": [float(lat.min()), float(lat.max())], "lon": [float(lon.min()), float(lon.max())],
            "first_bin": str(times.min())[:19] + "Z", "last_bin": str(times.max())[:19] + "Z",
            "best": {"time": str(score["time"].values[int(best["time"])])[:19] + "Z",
                     "lat": float(score["lat"].values[int(best["lat"])]),
                     "lon": float(score["lon"].values[int(best["lon"])])}}


@dataclass(frozen=True)
class Candidate:
    """An event and where it falls in the region (``inside``: a candidate source)."""

    event: object
    inside: bool
    score: float
    reason: str


def _cell(axis: np.ndarray, x: float, periodic: bool = False) -> int | None:
    if len(axis) == 0:
        return None
    d = float(axis[1] - axis[0]) if len(axis) > 1 else 1.0
    if periodic:
        x = axis[0] + ((x - axis[0] + d / 2) % 360.0) - d / 2
    i = int(round((x - axis[0]) / d))
    return i if 0 <= i < len(axis) else None


def fuse(region, score, events: Iterable, *, time_tolerance_s: float = 0.0) -> list[Candidate]:
    """Which events fall inside the region: ``events`` have ``time`` (epoch s), ``lat`` and ``lon``;
    every event comes back with ``inside``, its normalised sensitivity ``score`` (largest over the
    time bins within the tolerance) and the reason. Candidates first, best first."""
    times = region["time"].values.astype("datetime64[ns]").astype("int64") / 1e9
    step = float(region.attrs.get("time_step_s") or (np.diff(times).min() if len(times) > 1 else 3600.0))
    lats, lons = region["lat"].values, region["lon"].values
    reg, sc = region.values, score.values
    out = []
    for ev in events:
        i, j = _cell(lats, float(ev.lat)), _cell(lons, float(ev.lon), periodic=True)
        if i is None or j is None:
            out.append(Candidate(ev, False, 0.0, "outside the SRS grid"))
            continue
        ks = np.flatnonzero((times <= ev.time + time_tolerance_s) & (times + step > ev.time - time_tolerance_s))
        if not len(ks):
            out.append(Candidate(ev, False, 0.0, "origin time outside the SRS time span"))
            continue
        k = ks[np.argmax(sc[ks, i, j])]
        s = float(sc[k, i, j])
        if reg[ks, i, j].any():
            out.append(Candidate(ev, True, s, f"in the source region (cell {lats[i]:.2f}, {lons[j]:.2f}, bin "
                                              f"{str(region['time'].values[k])[:16]}Z)"))
        else:
            out.append(Candidate(ev, False, s, f"sensitivity {s:.3g} of the maximum, below the threshold "
                                               f"{region.attrs.get('threshold')}"))
    out.sort(key=lambda c: (not c.inside, -c.score))
    return out
