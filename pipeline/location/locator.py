"""Linearised least-squares event location from arrival times, backazimuths and slownesses.

In the spirit of LocSAT (Bratt & Bache) and iLoc [REFERENCE 2.1]: an iterative, damped
(Levenberg-Marquardt) Gauss-Newton inversion of the defining data, each weighted by its
uncertainty, for epicentre, depth (free or fixed) and origin time, with Jordan & Sverdrup (1981)
confidence regions [REFERENCE 2.2] (:mod:`pipeline.location.ellipse`).

Arrivals DataFrame (one row per associated arrival; the pick schema of :mod:`pipeline.picks`
fits)::

    station                  str    station code (required)
    network                  str    network code (optional; "" = match on station code only)
    phase                    str    phase name (required): P, Pn, Pg, S, Sn, Sg, Lg, PKP, ...
    time                     float  onset time, epoch s UTC (required)
    time_uncertainty         float  1-sigma, s (NaN -> LocatorConfig.time_uncertainties)
    backazimuth              float  measured station-to-event azimuth, deg (NaN = none)
    backazimuth_uncertainty  float  1-sigma, deg (NaN -> config default)
    slowness                 float  measured horizontal slowness, s/deg (NaN = none)
    slowness_uncertainty     float  1-sigma, s/deg (NaN -> config default)
    use_time, use_azimuth, use_slowness   bool (optional, default True): may the datum define
    pick_id                  str    (optional) carried into :func:`to_obspy_origin`

Stations DataFrame: ``network, station, latitude, longitude, elevation_m`` (deg, deg, m), as
:func:`pipeline.picks.stations_from_inventory` returns. An arrival matches ``(network,
station)``, else the station code alone; arrivals whose station is not in the table are kept in
the result (``note``) and listed in :attr:`LocationResult.missing_stations`.

Model and corrections
---------------------
Travel times, dT/dΔ and dT/dh come from a :class:`~pipeline.traveltime.tables.TravelTimeTable`.
Arrival phases map to table phases through ``LocatorConfig.phase_aliases`` (e.g. ``Pn`` -> the
first-arriving ``P``, ``PKPdf`` -> ``PKP``); a phase without a table is never time- or
slowness-defining. Station elevation corrections: the table's own
:meth:`~pipeline.traveltime.tables.TravelTimeTable.elevation_correction` (ray-parameter
integral through the model's layers) from the table's receiver elevation down/up to the
station, plus, for the part of a station above the model top (every ak135 station above sea
level), ``h * sqrt(1/v² - p²)`` with the surface velocities of the config. Ellipticity
corrections (``LocatorConfig.ellipticity_corrections``) from the table's coefficients
(:meth:`~pipeline.traveltime.tables.TravelTimeTable.ellipticity`, Russell et al. 2022) for the
current source latitude and azimuth, in the inversion (not in the starting-point grid search,
where ~1 s does not matter); no depth-phase bounce-point corrections.

Geometry: a sphere of radius 6371 km with geocentric latitudes (``LocatorConfig.geocentric``),
haversine distances (:mod:`pipeline.location.geodesy`). Horizontal parameters are km east/north
of the current epicentre; the covariance is in km and s.

Starting point
--------------
Given (``start``), else a grid search: a cap of the table's largest distance (2° for the default
local table, the whole globe for global tables) around the first-arriving station, sampled at
radius / ``grid_points_per_radius`` and at ``grid_depths_km``; the misfit is a robust L1 sum of
capped normalised residuals with the origin time eliminated by a median, and the per-datum
sigma inflated by what the grid spacing can explain. The best ``grid_candidates`` distinct
minima are refined on finer caps (``grid_levels`` times, spacing / 4) and the inversion starts
from the best; the others are tried when it fails or ends with a worse fit.

Other technologies
------------------
Infrasound and hydroacoustic arrivals (``technology`` column, else the phase names: I, Iw, Is,
It; H, T; :func:`pipeline.picks.technologies`) define their measured backazimuths with their
uncertainties like array arrivals. An **infrasound** time is never time-defining (note
"infrasound: celerity window ..."): the celerity of a duct is a window of +-15 % around its
middle (:mod:`pipeline.traveltime.infrasound`), not a travel time; the associator has already
checked the arrival lies in it. Its slowness (the trace velocity) is not defining either. A
**hydroacoustic** time is time-defining with the water-path time along the great circle
(``water_speed_km_s``, default 1.485 km/s, :mod:`pipeline.traveltime.hydroacoustic`; depth
derivative 0) and a large sigma: ``max(pick sigma, hydroacoustic_time_uncertainty_s +
hydroacoustic_time_uncertainty_fraction x travel time)`` (default 5 s + 1 %: half the
association tolerance of ``[hydroacoustic]``, emergent onsets and the sound speed of real paths
varying by ~1-2 %). Land blockage is the associator's check, not the locator's.

Outliers: after convergence the defining datum with the largest ``|r| / sigma`` above
``outlier_cutoff`` is made non-defining (``note = "outlier"``) and the event relocated, until
none is left or ``max_outlier_fraction`` of the data are gone.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from obspy import UTCDateTime

from pipeline.errors import InputError
from pipeline.io.columns import SkippedInputWarning
from pipeline.picks import technologies
from pipeline.traveltime.hydroacoustic import DEFAULT_SOUND_SPEED_KM_S

from .config import LocatorConfig
from .ellipse import ErrorEllipse, error_ellipse, half_interval, jordan_sverdrup
from .geodesy import (
    KM_PER_DEG,
    disc_grid,
    distance_azimuth,
    geocentric_latitude,
    geographic_latitude,
    move_km,
    wrap180,
)

#: parameter order of :attr:`LocationResult.covariance` (free depth; fixed depth drops depth_km)
PARAMETERS = ("east_km", "north_km", "depth_km", "time_s")
_RADIUS_KM = KM_PER_DEG * 180.0 / math.pi
_CAP = 5.0  # grid search: cap of one datum's |r|/sigma (robust L1 misfit)

#: columns of :attr:`LocationResult.arrivals`
RESIDUAL_COLUMNS = (
    "station", "network", "phase", "table_phase", "distance_deg", "azimuth_deg",
    "backazimuth_deg", "travel_time_s", "elevation_correction_s", "ellipticity_correction_s",
    "time_residual_s",
    "time_uncertainty_s", "time_defining", "backazimuth_residual_deg",
    "backazimuth_uncertainty_deg", "azimuth_defining", "slowness_s_deg",
    "slowness_residual_s_deg", "slowness_uncertainty_s_deg", "slowness_defining", "pick_id",
    "note",
)


class LocationError(InputError):
    """Input the locator cannot work with (the message names the column or value)."""


@dataclass(frozen=True)
class LocationResult:
    """A location and its quality.

    :param latitude: epicentre, deg (geographic). NaN when no location could be made.
    :param longitude: epicentre, deg.
    :param depth_km: depth below sea level, km.
    :param time: origin time (``None`` when no location could be made).
    :param depth_type: ``"free"`` (solved), ``"fixed"`` (by config or for lack of data) or
        ``"bound"`` (a free depth held at a depth bound).
    :param converged: the inversion converged (and enough data were defining).
    :param message: what happened (always set when not converged).
    :param iterations: inversion iterations summed over all solves.
    :param covariance: a-posteriori model covariance ``sigma_hat² (GᵀG)⁻¹`` in km², km·s, s² for
        :attr:`parameters` (4×4, or 3×3 without depth when the depth is not free).
    :param parameters: names of the covariance rows: east_km, north_km, [depth_km,] time_s.
    :param ellipse: epicentre ellipse at :attr:`confidence` (Jordan & Sverdrup).
    :param depth_uncertainty_km: depth half-interval at :attr:`confidence` (NaN if not free).
    :param time_uncertainty_s: origin-time half-interval at :attr:`confidence`.
    :param depth_std_km: 1-sigma depth error, km (scaled covariance; NaN if not free).
    :param time_std_s: 1-sigma origin-time error, s.
    :param sigma_hat: a-posteriori standard error (units of the data sigmas).
    :param ndf: Jordan & Sverdrup degrees of freedom K + N - M.
    :param confidence: confidence level of ellipse and half-intervals (0.9).
    :param rms_s: unweighted RMS of the defining time residuals, s (the REB "rms").
    :param weighted_rms: RMS of residual / sigma over all defining data.
    :param azimuthal_gap_deg: largest gap between event-to-station azimuths of defining
        stations, deg.
    :param min_distance_deg: distance of the closest defining station, deg.
    :param max_distance_deg: distance of the furthest defining station, deg.
    :param ndef: number of defining data (time + azimuth + slowness).
    :param nsta: number of stations with at least one defining datum.
    :param n_time_defining: defining times.
    :param n_azimuth_defining: defining backazimuths.
    :param n_slowness_defining: defining slownesses.
    :param arrivals: one row per input arrival (same index), columns :data:`RESIDUAL_COLUMNS`:
        distance (deg), event-to-station ``azimuth_deg``, predicted station-to-event
        ``backazimuth_deg``, predicted travel time with elevation correction (s), residuals
        observed - predicted (s, deg, s/deg), the uncertainties used, defining flags and a
        ``note`` saying why a measured datum is not defining.
    :param missing_stations: station codes of arrivals not found in the stations table.
    :param model: the travel-time model id.
    """

    latitude: float
    longitude: float
    depth_km: float
    time: UTCDateTime | None
    depth_type: str
    converged: bool
    message: str
    iterations: int
    covariance: np.ndarray | None
    parameters: tuple[str, ...]
    ellipse: ErrorEllipse | None
    depth_uncertainty_km: float
    time_uncertainty_s: float
    depth_std_km: float
    time_std_s: float
    sigma_hat: float
    ndf: float
    confidence: float
    rms_s: float
    weighted_rms: float
    azimuthal_gap_deg: float
    min_distance_deg: float
    max_distance_deg: float
    ndef: int
    nsta: int
    n_time_defining: int
    n_azimuth_defining: int
    n_slowness_defining: int
    arrivals: pd.DataFrame = field(repr=False)
    missing_stations: tuple[str, ...] = ()
    model: str = ""

    @property
    def depth_fixed(self) -> bool:
        """True when the depth was not solved for (fixed by config/data, or at a bound)."""
        return self.depth_type != "free"

    @property
    def ok(self) -> bool:
        """Converged with a finite hypocentre."""
        return self.converged and math.isfinite(self.latitude)

    def __str__(self) -> str:
        e = self.ellipse
        ell = (f", ellipse {e.semi_major_km:.1f}×{e.semi_minor_km:.1f} km "
               f"strike {e.strike_deg:.0f}°" if e else "")
        return (f"{self.time} {self.latitude:.4f} {self.longitude:.4f} {self.depth_km:.1f} km "
                f"({self.depth_type}) ndef={self.ndef} nsta={self.nsta} rms={self.rms_s:.2f} s"
                f"{ell}{'' if self.converged else ' NOT CONVERGED: ' + self.message}")


# -- input -------------------------------------------------------------------------------------
def _column(df: pd.DataFrame, name: str, default, kind=float) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), default, dtype=kind)
    col = df[name]
    if kind is bool:
        return col.fillna(default).astype(bool).to_numpy()
    if kind is float:
        return pd.to_numeric(col, errors="coerce").astype(float).to_numpy()
    return col.fillna(default).astype(str).str.strip().to_numpy()


def _time_column(df: pd.DataFrame) -> np.ndarray:
    """Epoch seconds from ``time`` (float epoch s, UTCDateTime or datetime64); NaN allowed."""
    col = df["time"]
    if len(col) and isinstance(col.iloc[0], UTCDateTime):
        return np.array([float(t.timestamp) for t in col])
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.astype("int64").to_numpy() / 1e9
    out = pd.to_numeric(col, errors="coerce").astype(float).to_numpy()
    bad = np.isnan(out) & col.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LocationError(f"arrivals table: row {i + 1}: column 'time' is not epoch seconds: "
                            f"{col.iloc[i]!r}")
    return out


def _station_lookup(stations: pd.DataFrame):
    for c in ("station", "latitude", "longitude"):
        if c not in stations.columns:
            raise LocationError(f"stations table: required column '{c}' missing")
    net = _column(stations, "network", "", str)
    sta = _column(stations, "station", "", str)
    lat = _column(stations, "latitude", np.nan)
    lon = _column(stations, "longitude", np.nan)
    elev = np.nan_to_num(_column(stations, "elevation_m", 0.0))
    by_pair, by_code = {}, {}
    for i in range(len(stations)):
        if not (np.isfinite(lat[i]) and np.isfinite(lon[i])):
            continue
        rec = (lat[i], lon[i], elev[i])
        by_pair[(net[i], sta[i])] = rec
        by_code.setdefault(sta[i], rec)
    return by_pair, by_code


def backazimuth_uncertainty_from_slowness(slowness_s_deg, slowness_uncertainty_s_deg):
    """1-sigma backazimuth uncertainty (deg) of a measured slowness vector.

    A slowness vector of length ``s`` known to ``ds`` (same units, e.g. s/deg) points in a
    direction known to ``2 asin(ds / 2s)`` (the angle subtended by the error circle; ``ds/s``
    radians when small); 180 deg when ``ds > 2s`` or ``s`` is not positive. This is the rule of
    the IDC's f-k attribute measurement (GMS ``azimuthUncertainty``): a slow (regional, S or
    Lg) arrival gives a sharp azimuth, a fast teleseismic P a loose one.
    """
    s = np.asarray(slowness_s_deg, dtype=float)
    ds = np.asarray(slowness_uncertainty_s_deg, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = 0.5 * ds / s
        out = np.degrees(2.0 * np.arcsin(np.where((s > 0) & (x <= 1.0), x, 1.0)))
    return np.where(np.isfinite(s) & np.isfinite(ds), out, np.nan)


def _default_backazimuth_uncertainty(slowness, slowness_sigma, config: LocatorConfig):
    """Backazimuth sigma for arrivals that carry none: from the slowness vector where a
    slowness was measured and ``config.backazimuth_uncertainty_from_slowness``, else the
    configured constant."""
    default = np.full(len(slowness), config.backazimuth_uncertainty_deg)
    if not config.backazimuth_uncertainty_from_slowness:
        return default
    derived = backazimuth_uncertainty_from_slowness(slowness, slowness_sigma)
    return np.where(np.isfinite(derived), derived, default)


class _Problem:
    """The arrivals of one event as arrays, with predictions from the table."""

    def __init__(self, arrivals: pd.DataFrame, stations: pd.DataFrame, tt,
                 config: LocatorConfig, water_speed_km_s: float = DEFAULT_SOUND_SPEED_KM_S):
        for c in ("station", "phase", "time"):
            if c not in arrivals.columns:
                raise LocationError(f"arrivals table: required column '{c}' missing")
        self.tt = tt
        self.cfg = config
        self.index = arrivals.index
        n = len(arrivals)
        self.station = _column(arrivals, "station", "", str)
        self.network = _column(arrivals, "network", "", str)
        self.phase = _column(arrivals, "phase", "", str)
        self.pick_id = _column(arrivals, "pick_id", "", str)
        self.t_obs = _time_column(arrivals)
        self.sig_t_in = _column(arrivals, "time_uncertainty", np.nan)
        self.baz_obs = _column(arrivals, "backazimuth", np.nan)
        self.sig_az = _column(arrivals, "backazimuth_uncertainty", np.nan)
        self.slow_obs = _column(arrivals, "slowness", np.nan)
        self.sig_s = _column(arrivals, "slowness_uncertainty", np.nan)
        self.sig_s = np.where(np.isfinite(self.sig_s) & (self.sig_s > 0), self.sig_s,
                              config.slowness_uncertainty_s_deg)
        self.sig_az = np.where(np.isfinite(self.sig_az) & (self.sig_az > 0), self.sig_az,
                               _default_backazimuth_uncertainty(self.slow_obs, self.sig_s, config))
        self.note = np.array([""] * n, dtype=object)

        by_pair, by_code = _station_lookup(stations)
        self.slat = np.full(n, np.nan)
        self.slon = np.full(n, np.nan)
        self.elev_km = np.zeros(n)
        missing = []
        for i in range(n):
            rec = by_pair.get((self.network[i], self.station[i])) or by_code.get(self.station[i])
            if rec is None:
                self.note[i] = "station not in stations table"
                if self.station[i] not in missing:
                    missing.append(self.station[i])
                continue
            self.slat[i], self.slon[i], self.elev_km[i] = rec[0], rec[1], rec[2] / 1000.0
        self.missing_stations = tuple(missing)
        self.known = np.isfinite(self.slat)
        if config.geocentric:
            self.slat = geocentric_latitude(self.slat)

        # table phase of each arrival ("" = none)
        table = set(tt.phases)
        self.table_phase = np.array(
            [next((p for p in config.phase_aliases.get(ph, (ph,)) if p in table), "")
             for ph in self.phase], dtype=object)
        has_table = self.table_phase != ""
        use_t = _column(arrivals, "use_time", True, bool) & config.use_time
        use_a = _column(arrivals, "use_azimuth", True, bool) & config.use_azimuth
        use_s = _column(arrivals, "use_slowness", True, bool) & config.use_slowness
        ok = self.known
        self.def_t = ok & use_t & np.isfinite(self.t_obs) & has_table
        self.def_a = ok & use_a & np.isfinite(self.baz_obs)
        self.def_s = ok & use_s & np.isfinite(self.slow_obs) & has_table
        # infrasound and hydroacoustic arrivals (module docstring: "Other technologies")
        tech = technologies(arrivals) if n else np.zeros(0, dtype=object)
        infra = (tech == "infrasound") & ~has_table
        self.hydro = np.flatnonzero((tech == "hydroacoustic") & ~has_table)
        self.water_speed_km_s = float(water_speed_km_s)
        self.def_t[infra] = False
        self.def_s[infra] = False
        self.def_t[self.hydro] = (ok & use_t & np.isfinite(self.t_obs))[self.hydro]
        for i in np.flatnonzero(ok & ~has_table & use_t & np.isfinite(self.t_obs)):
            if infra[i]:
                self.note[i] = "infrasound: celerity window, not a travel time (not time-defining)"
            elif tech[i] != "hydroacoustic":
                self.note[i] = f"no travel-time table for phase {self.phase[i]!r}"
        self.groups = {p: np.flatnonzero(ok & (self.table_phase == p))
                       for p in sorted(set(self.table_phase[has_table & ok]))}
        self.sig_t = np.full(n, np.nan)
        self.depth_lo = max(config.min_depth_km, float(tt.depth_km[0]))
        self.depth_hi = min(config.max_depth_km, float(tt.depth_km[-1]))
        self._table_elev = bool(getattr(tt.model, "taup_model", ""))
        self._top_elev = -float(getattr(tt.model, "top_km", 0.0))
        self._ec_tables: dict = {}
        self._phase_ids = {p: k for k, p in enumerate(tt.phases)}
        self._ellipticity = bool(config.ellipticity_corrections
                                 and getattr(tt, "has_ellipticity", False))

    # -- uncertainties ----------------------------------------------------------------------
    def set_time_sigmas(self, distance_deg: np.ndarray) -> bool:
        """Fill default time sigmas from the distances; True when any value changed."""
        cfg = self.cfg
        new = np.array([
            s if (np.isfinite(s) and s > 0) else
            (cfg.default_time_uncertainty(p, d) if np.isfinite(d) else np.nan)
            for s, p, d in zip(self.sig_t_in, self.phase, distance_deg)])
        if self.hydro.size:
            # water path: the onset and the sound speed along the real path (module docstring)
            h = self.hydro
            model = (cfg.hydroacoustic_time_uncertainty_s + cfg.hydroacoustic_time_uncertainty_fraction
                     * distance_deg[h] * KM_PER_DEG / self.water_speed_km_s)
            new[h] = np.where(np.isfinite(new[h]), np.fmax(new[h], model), model)
        new = np.maximum(new, cfg.min_time_uncertainty_s)
        changed = not np.array_equal(np.nan_to_num(new, nan=-1), np.nan_to_num(self.sig_t, nan=-1))
        self.sig_t = new
        return changed

    # -- predictions ------------------------------------------------------------------------
    def _ec_table(self, phase: str):
        """Elevation corrections (s) of every arrival tabulated against the ray parameter
        (s/deg): ``(p_nodes, values[p, arrival])``; the correction depends only on p and the
        station elevation, so it is computed once per event and phase."""
        tab = self._ec_tables.get(phase)
        if tab is None:
            tt, cfg = self.tt, self.cfg
            pmax = float(np.nanmax(tt.dataset["slowness"].sel(phase=phase).values))
            pk = np.linspace(0.0, max(pmax, 1e-6) * 1.01, 129)[:, None]
            elev = self.elev_km[None, :]
            wave = tt.groups[phase].wave
            ref = float(tt.receiver_elevation_km)
            vals = np.zeros((pk.size, elev.size))
            if self._table_elev:
                below = np.minimum(elev, self._top_elev)
                if np.any(np.abs(below - ref) > 1e-9):
                    vals = np.nan_to_num(tt.model.vertical_slowness_integral(
                        -ref, -below, pk, wave))
                above = elev - self._top_elev
            else:
                above = elev - ref
            v = cfg.surface_vs_km_s if wave == "S" else cfg.surface_vp_km_s
            q = np.sqrt(np.clip(1.0 / v ** 2 - (pk / KM_PER_DEG) ** 2, 0.0, None))
            vals = vals + np.clip(above, 0.0, None) * q
            tab = (pk[:, 0], vals)
            self._ec_tables[phase] = tab
        return tab

    def _elevation(self, phase: str, idx: np.ndarray, p_s_deg) -> np.ndarray:
        """Elevation corrections (s, to add) of arrivals ``idx`` for ray parameters
        ``p_s_deg`` (shape ``(..., idx.size)``; the locator passes the table's dT/dΔ).

        Piecewise-linear in ``p`` on the nodes of :meth:`_ec_table`, all arrivals at once; the
        same arithmetic as :func:`numpy.interp` per arrival (identical values)."""
        pk, vals = self._ec_table(phase)
        p = np.nan_to_num(np.abs(np.asarray(p_s_deg, float)))
        v = vals[:, idx]  # (nodes, m), broadcast against p (..., m)
        cols = np.arange(idx.size)
        last = pk.size - 1
        j = np.clip(np.searchsorted(pk, p, "right") - 1, 0, last - 1)
        y0 = v[j, cols]
        y1 = v[j + 1, cols]
        x0 = pk[j]
        out = (y1 - y0) / (pk[j + 1] - x0) * (p - x0) + y0
        out = np.where(p == x0, y0, out)
        return np.where(p >= pk[last], v[last, cols], out)

    def predict(self, lat: float, lon: float, depth: float, slowness_derivs: bool = True) -> dict:
        """Distances, azimuths and predicted times/slownesses at one hypocentre."""
        tt = self.tt
        d, az, baz = distance_azimuth(lat, lon, self.slat, self.slon)
        n = d.size
        out = {"dist": d, "az": az, "baz": baz}
        for k in ("T", "dTdD", "dTdh", "ec", "ell", "u", "dudD", "dudh"):
            out[k] = np.full(n, np.nan)
        z_top, z_bot = float(tt.depth_km[0]), float(tt.depth_km[-1])
        hd, hz = 0.02, 1.0
        z1, z0 = min(depth + hz, z_bot), max(depth - hz, z_top)
        # one table look-up for all phases: the arrivals' times and derivatives, plus, for
        # measured slownesses, the points of the slowness derivatives (finite differences)
        xs, zs, ks, parts = [], [], [], []
        for ph, idx in self.groups.items():
            ds = idx[np.isfinite(self.slow_obs[idx])]
            xs.append(d[idx])
            zs.append(np.full(idx.size, float(depth)))
            xd = x_dn = None
            if ds.size and slowness_derivs:
                xd = d[ds]
                x_dn = np.maximum(xd - hd, 0.0)
                xs += [xd + hd, x_dn, xd, xd]
                zs += [np.full(ds.size, float(depth)), np.full(ds.size, float(depth)),
                       np.full(ds.size, z1), np.full(ds.size, z0)]
            npts = idx.size + (4 * ds.size if xd is not None else 0)
            ks.append(np.full(npts, self._phase_ids[ph]))
            parts.append((ph, idx, ds, xd, x_dn, npts))
        if self.hydro.size:
            h = self.hydro
            out["T"][h] = d[h] * KM_PER_DEG / self.water_speed_km_s
            out["dTdD"][h] = KM_PER_DEG / self.water_speed_km_s
            out["dTdh"][h] = 0.0
            out["ec"][h] = out["ell"][h] = 0.0
        if not parts:
            return out
        T, DD, U, DH = tt.lookup(np.concatenate(ks), np.concatenate(xs), np.concatenate(zs))
        ell_all = self._ellipticity_at(lat, lon, depth, d, az) if self._ellipticity else None
        o = 0
        for ph, idx, ds, xd, x_dn, npts in parts:
            t, dd, u, dh = T[o:o + npts], DD[o:o + npts], U[o:o + npts], DH[o:o + npts]
            o += npts
            m = idx.size
            ec = self._elevation(ph, idx, dd[:m]) \
                if self.cfg.elevation_corrections else 0.0
            ell = ell_all[idx] if ell_all is not None else 0.0
            out["T"][idx] = t[:m] + ec + ell
            out["ec"][idx] = ec
            out["ell"][idx] = ell
            out["dTdD"][idx] = dd[:m]
            out["dTdh"][idx] = dh[:m]
            if ds.size:
                pos = np.searchsorted(idx, ds)  # idx is sorted (np.flatnonzero)
                out["u"][ds] = u[pos]
                if xd is not None:
                    k = ds.size
                    up, dn = u[m:m + k], u[m + k:m + 2 * k]
                    out["dudD"][ds] = (up - dn) / (xd + hd - x_dn)
                    out["dudh"][ds] = (u[m + 2 * k:m + 3 * k] - u[m + 3 * k:]) / (z1 - z0)
        return out

    #: the ellipticity corrections of all arrivals are computed once per source cell of this
    #: size (deg, deg, km) and reused while the inversion moves inside it: they change by
    #: < 0.01 s across it, far below any pick error, and cost as much as the travel times
    _ELLIPTICITY_CELL = (0.1, 0.1, 5.0)

    def _ellipticity_at(self, lat: float, lon: float, depth: float, d: np.ndarray,
                        az: np.ndarray) -> np.ndarray:
        """Ellipticity corrections (s) of every arrival with a table phase for a source at
        (lat, lon, depth) (0 elsewhere), cached per source cell (:attr:`_ELLIPTICITY_CELL`)."""
        c = self._ELLIPTICITY_CELL
        key = (round(lat / c[0]), round(lon / c[1]), round(depth / c[2]))
        cache = self.__dict__.setdefault("_ell_cache", {})
        hit = cache.get(key)
        if hit is not None:
            return hit
        out = np.zeros(d.size)
        idx = np.concatenate(list(self.groups.values())) if self.groups else np.zeros(0, int)
        if idx.size:
            ids = np.concatenate([np.full(i.size, self._phase_ids[p]) for p, i in self.groups.items()])
            out[idx] = np.nan_to_num(self.tt.ellipticity(ids, d[idx], float(depth), float(lat), az[idx]))
        cache[key] = out
        return out

    def system(self, lat, lon, depth, t0, free_depth: bool, masks):
        """Weighted design matrix, weighted residuals and misfit at one hypocentre."""
        mt, ma, ms = masks
        p = self.predict(lat, lon, depth)
        rows, res = [], []
        penalty = 0.0
        az = np.radians(p["az"])
        sa, ca = np.sin(az), np.cos(az)
        pen = max(self.cfg.outlier_cutoff, 3.0) ** 2
        # times
        i = np.flatnonzero(mt)
        good = i[np.isfinite(p["T"][i]) & np.isfinite(p["dTdD"][i])]
        penalty += pen * (i.size - good.size)
        w = 1.0 / self.sig_t[good]
        g = np.column_stack([-p["dTdD"][good] * sa[good] / KM_PER_DEG,
                             -p["dTdD"][good] * ca[good] / KM_PER_DEG,
                             np.nan_to_num(p["dTdh"][good]), np.ones(good.size)])
        rows.append(g * w[:, None])
        res.append((self.t_obs[good] - t0 - p["T"][good]) * w)
        # backazimuths
        i = np.flatnonzero(ma)
        w = 1.0 / self.sig_az[i]
        sd = np.maximum(np.sin(np.radians(p["dist"][i])), 1e-4) * _RADIUS_KM
        g = np.column_stack([np.degrees(-ca[i] / sd), np.degrees(sa[i] / sd),
                             np.zeros(i.size), np.zeros(i.size)])
        rows.append(g * w[:, None])
        res.append(wrap180(self.baz_obs[i] - p["baz"][i]) * w)
        # slownesses
        i = np.flatnonzero(ms)
        good = i[np.isfinite(p["u"][i]) & np.isfinite(p["dudD"][i])]
        penalty += pen * (i.size - good.size)
        w = 1.0 / self.sig_s[good]
        g = np.column_stack([-p["dudD"][good] * sa[good] / KM_PER_DEG,
                             -p["dudD"][good] * ca[good] / KM_PER_DEG,
                             np.nan_to_num(p["dudh"][good]), np.zeros(good.size)])
        rows.append(g * w[:, None])
        res.append((self.slow_obs[good] - p["u"][good]) * w)
        G = np.vstack(rows)
        r = np.concatenate(res)
        if not free_depth:
            G = np.delete(G, 2, axis=1)
        return G, r, float(r @ r) + penalty, p

    # -- grid search ------------------------------------------------------------------------
    def grid_misfit(self, lat, lon, depths, spacing_deg: float):
        """Robust misfit (n_nodes, n_depths) and origin times at grid nodes.

        Sum over data of ``min(|r| / sigma_eff, cap)`` with the origin time of each node and
        depth the median time residual; ``sigma_eff² = sigma² + (spacing / 2 * dT/dΔ)²`` (what
        the horizontal grid spacing can explain). The depth spacing is not added: the
        origin time absorbs most of a depth error, and inflating sigmas by dT/dh favours
        shallow nodes in slow surface layers.
        """
        tt = self.tt
        it = np.flatnonzero(self.def_t)
        ia = np.flatnonzero(self.def_a)
        d, az, baz = distance_azimuth(lat[:, None], lon[:, None], self.slat[None, it],
                                      self.slon[None, it])
        mis = np.zeros((lat.size, len(depths)))
        t0s = np.full((lat.size, len(depths)), np.nan)
        half = 0.5 * spacing_deg
        if ia.size:
            da, _, baza = distance_azimuth(lat[:, None], lon[:, None], self.slat[None, ia],
                                           self.slon[None, ia])
            blur = np.degrees(np.arctan2(np.sin(np.radians(half)),
                                         np.abs(np.sin(np.radians(da)))))
            sig = np.sqrt(self.sig_az[ia] ** 2 + blur ** 2)
            ra = np.abs(wrap180(self.baz_obs[ia] - baza)) / sig
            mis += np.minimum(ra, _CAP).sum(axis=1)[:, None]
        if it.size == 0:
            return mis, t0s
        tp = self.table_phase[it]
        for k, z in enumerate(depths):
            T = np.full(d.shape, np.nan)
            sig2 = np.tile(self.sig_t[it] ** 2, (lat.size, 1))
            for ph in set(tp):
                cols = np.flatnonzero(tp == ph)
                if ph == "":  # hydroacoustic: the water path
                    T[:, cols] = d[:, cols] * KM_PER_DEG / self.water_speed_km_s
                    sig2[:, cols] += (half * KM_PER_DEG / self.water_speed_km_s) ** 2
                    continue
                t, dd, _ = tt.derivatives(ph, d[:, cols], z)
                if self.cfg.elevation_corrections:
                    t = t + self._elevation(ph, it[cols], dd)
                T[:, cols] = t
                sig2[:, cols] += (half * np.nan_to_num(dd)) ** 2
            r = self.t_obs[it][None, :] - T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                t0 = np.nanmedian(r, axis=1)
            t0s[:, k] = t0
            nr = np.abs(r - t0[:, None]) / np.sqrt(sig2)
            mis[:, k] += np.where(np.isfinite(nr), np.minimum(nr, _CAP), _CAP).sum(axis=1)
        return mis, t0s


def _grid_depths(problem: _Problem, depths_cfg, fixed: float | None) -> np.ndarray:
    if fixed is not None:
        return np.array([fixed], float)
    z = np.array([v for v in depths_cfg if problem.depth_lo <= v <= problem.depth_hi], float)
    if z.size == 0:
        z = np.array([0.5 * (problem.depth_lo + problem.depth_hi)])
    return z


def _grid_search(problem: _Problem, depths: np.ndarray, cfg: LocatorConfig):
    """Coarse grid minima ``[(misfit, lat, lon, depth, t0, spacing), ...]``, best first."""
    it = np.flatnonzero(problem.def_t)
    pool = it if it.size else np.flatnonzero(problem.def_a)
    first = pool[np.argmin(problem.t_obs[pool])] if it.size else pool[0]
    clat, clon = problem.slat[first], problem.slon[first]
    radius = float(min(problem.tt.distance_deg[-1], 180.0))
    spacing = radius / cfg.grid_points_per_radius
    # proxy distances for default sigmas: from the first-arriving station
    d0, _, _ = distance_azimuth(clat, clon, problem.slat, problem.slon)
    problem.set_time_sigmas(d0)
    lat, lon = disc_grid(clat, clon, radius, spacing)
    mis, t0s = problem.grid_misfit(lat, lon, depths, spacing)
    best = np.nanmin(mis, axis=1)
    order = np.argsort(best, kind="stable")
    out: list[tuple] = []
    for i in order:
        if len(out) >= cfg.grid_candidates:
            break
        if out:
            dd, _, _ = distance_azimuth(lat[i], lon[i], [c[1] for c in out], [c[2] for c in out])
            if np.any(dd < 3.0 * spacing):
                continue
        k = int(np.nanargmin(mis[i]))
        out.append((float(mis[i, k]), float(lat[i]), float(lon[i]), float(depths[k]),
                    float(t0s[i, k]), spacing))
    return out


def _refine(problem: _Problem, cand: tuple, depths: np.ndarray, cfg: LocatorConfig):
    """Refine a coarse grid minimum on finer caps: ``(misfit, lat, lon, depth, t0)``."""
    bm, blat, blon, bz, bt, s = cand
    for _ in range(cfg.grid_levels):
        s_new = s / 4.0
        glat, glon = disc_grid(blat, blon, 2.5 * s, s_new)
        m2, t2 = problem.grid_misfit(glat, glon, depths, s_new)
        j, k = np.unravel_index(int(np.nanargmin(m2)), m2.shape)
        blat, blon, bz, bt, bm = glat[j], glon[j], depths[k], t2[j, k], m2[j, k]
        s = s_new
    if not np.isfinite(bt):
        it = np.flatnonzero(problem.def_t)
        bt = _median_t0(problem, blat, blon, bz, problem.def_t) if it.size else 0.0
    return float(bm), float(blat), float(blon), float(bz), float(bt)


# -- inversion ---------------------------------------------------------------------------------
@dataclass
class _Solution:
    lat: float
    lon: float
    depth: float
    t0: float
    misfit: float
    iterations: int
    converged: bool
    message: str


def _solve(problem: _Problem, lat, lon, depth, t0, free_depth: bool, masks,
           cfg: LocatorConfig) -> _Solution:
    """Damped Gauss-Newton (Levenberg-Marquardt) iterations from one starting point."""
    lam = cfg.damping
    G, r, chi2, _ = problem.system(lat, lon, depth, t0, free_depth, masks)
    zlo, zhi = problem.depth_lo, problem.depth_hi
    prev = None
    for it in range(1, cfg.max_iterations + 1):
        if r.size < G.shape[1]:
            return _Solution(lat, lon, depth, t0, chi2, it - 1, False,
                             f"only {r.size} data have predictions at the trial hypocentre "
                             f"(< {G.shape[1]} parameters)")
        col = np.linalg.norm(G, axis=0)
        col[col == 0] = 1.0
        U, S, Vt = np.linalg.svd(G / col, full_matrices=False)
        ur = U.T @ r
        keep = S > S[0] * 1e-10 if S.size else S
        reduced = None  # the system without the depth column (a step into a depth bound)
        first_trial = True
        while True:
            f = np.where(keep, S / (S * S + lam), 0.0)
            ds = Vt.T @ (f * ur)
            dm = ds / col
            if not free_depth:
                dm = np.insert(dm, 2, 0.0)
            elif (depth <= zlo + 1e-9 and dm[2] < 0.0) or (depth >= zhi - 1e-9 and dm[2] > 0.0):
                # at a depth bound and the step pushes beyond it: the bound is active, solve the
                # other three parameters at this depth (clipping the depth of the unconstrained
                # step instead gives a trial the linear model did not predict, rejected again
                # and again for events at the surface)
                dz = 0.0
                if reduced is None:
                    Gr = np.delete(G, 2, axis=1)
                    colr = np.linalg.norm(Gr, axis=0)
                    colr[colr == 0] = 1.0
                    Ur, Sr, Vtr = np.linalg.svd(Gr / colr, full_matrices=False)
                    reduced = (Ur, Sr, Vtr, colr, Sr > Sr[0] * 1e-10 if Sr.size else Sr)
                Ur, Sr, Vtr, colr, keep_r = reduced
                fr = np.where(keep_r, Sr / (Sr * Sr + lam), 0.0)
                dmr = (Vtr.T @ (fr * (Ur.T @ (r - G[:, 2] * dz)))) / colr
                dm = np.insert(dmr, 2, dz)
                ds = dm * col
            if first_trial and math.hypot(dm[0], dm[1]) < cfg.convergence_km \
                    and abs(dm[2]) < cfg.convergence_km and abs(dm[3]) < cfg.convergence_time_s:
                # the step proposed at the current damping is below the convergence thresholds:
                # at the minimum (whether such a step lowers the misfit is numerical noise; testing
                # it used to cost ~10 rejected trials per solve before the damping gave up)
                return _Solution(lat, lon, depth, t0, chi2, it, True, "converged")
            first_trial = False
            nlat, nlon = move_km(lat, lon, dm[0], dm[1])
            nz = float(np.clip(depth + dm[2], zlo, zhi)) if free_depth else depth
            nt = t0 + dm[3]
            G2, r2, chi2b, _ = problem.system(float(nlat), float(nlon), nz, nt, free_depth, masks)
            if chi2b <= chi2 * (1.0 + 1e-12) + 1e-15:
                break
            lam = max(lam, 1e-6) * 10.0
            if lam > 1e8:  # no direction lowers the misfit: at the minimum
                return _Solution(lat, lon, depth, t0, chi2, it, True,
                                 "converged (no further decrease of the misfit)")
        step_h = math.hypot(dm[0], dm[1])
        step_z = abs(nz - depth)
        lat, lon, depth, t0 = float(nlat), float(nlon), nz, nt
        G, r, chi2 = G2, r2, chi2b
        # a step reversing the previous one means a kink (velocity discontinuity, branch
        # crossover) near the minimum: shrink the steps instead of oscillating around it
        if prev is not None and float(ds @ prev) < -0.5 * float(np.linalg.norm(ds)
                                                             * np.linalg.norm(prev)):
            lam = max(lam, 1e-3) * 10.0
        else:
            lam = lam / 10.0
        prev = ds
        if step_h < cfg.convergence_km and step_z < cfg.convergence_km \
                and abs(dm[3]) < cfg.convergence_time_s:
            return _Solution(lat, lon, depth, t0, chi2, it, True, "converged")

    return _Solution(lat, lon, depth, t0, chi2, cfg.max_iterations, False,
                     f"not converged after {cfg.max_iterations} iterations")


def _parse_start(start, problem: _Problem):
    """``(lat, lon, depth_km | None, t0 | None)`` (geocentric latitude) from ``start``."""
    if start is None:
        return None
    if hasattr(start, "latitude") and hasattr(start, "longitude"):
        depth = getattr(start, "depth", None)
        depth = None if depth is None else float(depth) / 1000.0
        t = getattr(start, "time", None)
        lat, lon, t = float(start.latitude), float(start.longitude), \
            (None if t is None else float(UTCDateTime(t).timestamp))
    elif isinstance(start, dict):
        lat, lon = float(start["latitude"]), float(start["longitude"])
        depth = start.get("depth_km")
        t = start.get("time")
        t = None if t is None else float(UTCDateTime(t).timestamp) \
            if not isinstance(t, (int, float)) else float(t)
    else:
        vals = list(start)
        if len(vals) < 2:
            raise LocationError("start: give (latitude, longitude[, depth_km[, time]])")
        lat, lon = float(vals[0]), float(vals[1])
        depth = float(vals[2]) if len(vals) > 2 and vals[2] is not None else None
        t = vals[3] if len(vals) > 3 else None
        t = None if t is None else (float(t) if isinstance(t, (int, float))
                                    else float(UTCDateTime(t).timestamp))
    if problem.cfg.geocentric:
        lat = float(geocentric_latitude(lat))
    return lat, lon, depth, t


def _median_t0(problem: _Problem, lat, lon, depth, mask) -> float:
    p = problem.predict(lat, lon, depth, slowness_derivs=False)
    r = problem.t_obs[mask] - p["T"][mask]
    r = r[np.isfinite(r)]
    return float(np.median(r)) if r.size else float(np.nanmin(problem.t_obs[mask]))


def locate(arrivals: pd.DataFrame, stations: pd.DataFrame, tt,
           config: LocatorConfig | None = None, start=None,
           water_speed_km_s: float = DEFAULT_SOUND_SPEED_KM_S) -> LocationResult:
    """Locate one event from its associated arrivals.

    :param arrivals: arrivals DataFrame (see the module docstring for the columns and units).
    :param stations: stations DataFrame (``network, station, latitude, longitude,
        elevation_m``).
    :param tt: :class:`~pipeline.traveltime.tables.TravelTimeTable` (its phases, depth range
        and, for the grid search, largest distance matter).
    :param config: :class:`~pipeline.location.config.LocatorConfig` (default settings when
        ``None``).
    :param start: starting hypocentre: ``(latitude, longitude[, depth_km[, time]])`` (deg, deg,
        km, epoch s or :class:`~obspy.UTCDateTime`), a dict with those keys or an obspy
        ``Origin``; ``None`` = grid search.
    :param water_speed_km_s: sound speed of the water path of hydroacoustic (H, T) arrivals,
        km/s (``[hydroacoustic] sound_speed_km_s``; :mod:`pipeline.traveltime.hydroacoustic`).
    :returns: :class:`LocationResult`. When fewer than ``min_defining`` data (or no defining
        time) remain, the result has ``converged=False``, NaN coordinates (or the start) and a
        message; it never raises for data problems.
    :raises LocationError: a required column is missing.
    """
    cfg = config or LocatorConfig()
    prob = _Problem(arrivals, stations, tt, cfg, water_speed_km_s)
    fixed = cfg.depth_mode == "fixed"
    start_h = _parse_start(start, prob)
    notes: list[str] = []
    if fixed and not (prob.depth_lo - 1e-9 <= cfg.fixed_depth_km <= float(tt.depth_km[-1])):
        raise LocationError(f"fixed_depth_km {cfg.fixed_depth_km} is outside the travel-time "
                            f"table ({tt.depth_km[0]:g}-{tt.depth_km[-1]:g} km)")
    n_def = int(prob.def_t.sum() + prob.def_a.sum() + prob.def_s.sum())
    if prob.missing_stations:
        notes.append(f"stations not in the stations table: {', '.join(prob.missing_stations)}")
    problem_msg = None
    if n_def < cfg.min_defining:
        problem_msg = (f"insufficient data: {n_def} defining data (time, azimuth, slowness) "
                       f"< min_defining = {cfg.min_defining}")
    elif not prob.def_t.any():
        problem_msg = "insufficient data: no time-defining arrival"
    elif n_def < 3:
        problem_msg = f"insufficient data: {n_def} defining data < 3 (latitude, longitude, time)"
    if problem_msg is None and not fixed and n_def < 4:
        fixed = True
        notes.append(f"depth fixed: {n_def} defining data < 4 free parameters")
    if problem_msg is not None:
        return _failed(prob, start_h, problem_msg, notes, cfg)

    fixed_depth = None
    if fixed:
        fixed_depth = cfg.fixed_depth_km if cfg.depth_mode == "fixed" else (
            start_h[2] if start_h and start_h[2] is not None else
            float(np.clip(cfg.fixed_depth_km, prob.depth_lo, prob.depth_hi)))
    if start_h is not None:
        lat, lon, z, t0 = start_h
        z = fixed_depth if fixed else float(np.clip(z if z is not None else 10.0,
                                                    prob.depth_lo, prob.depth_hi))
        d0, _, _ = distance_azimuth(lat, lon, prob.slat, prob.slon)
        prob.set_time_sigmas(d0)
        if t0 is None:
            t0 = _median_t0(prob, lat, lon, z, prob.def_t)
        candidates = [(0.0, lat, lon, z, t0)]
    else:
        gdepths = _grid_depths(prob, cfg.grid_depths_km, fixed_depth)
        candidates = _grid_search(prob, gdepths, cfg)

    masks = [prob.def_t.copy(), prob.def_a.copy(), prob.def_s.copy()]
    total_it = 0
    best: _Solution | None = None
    for cand in candidates:
        if len(cand) == 6:
            cand = _refine(prob, cand, gdepths, cfg)
        _, lat, lon, z, t0 = cand
        d0, _, _ = distance_azimuth(lat, lon, prob.slat, prob.slon)
        prob.set_time_sigmas(d0)
        sol = _solve(prob, lat, lon, z, t0, not fixed, masks, cfg)
        total_it += sol.iterations
        if best is None or (sol.converged and not best.converged) or \
                (sol.converged == best.converged and sol.misfit < best.misfit):
            best = sol
        if best.converged and best.misfit <= 1e-6 * len(prob.t_obs):
            break  # exact fit: no other candidate can do better
    sol = best
    # sigmas from the located distances, then outliers
    max_drop = int(math.floor(cfg.max_outlier_fraction * n_def))
    dropped = 0
    n_params = 3 if fixed else 4
    resigma = 2  # default sigmas depend on distance: re-evaluate them at most twice
    for _ in range(n_def + 3):
        p = prob.predict(sol.lat, sol.lon, sol.depth)
        if resigma > 0 and prob.set_time_sigmas(p["dist"]):
            resigma -= 1
            sol2 = _solve(prob, sol.lat, sol.lon, sol.depth, sol.t0, not fixed, masks, cfg)
            total_it += sol2.iterations
            sol = sol2
            continue
        if cfg.outlier_cutoff <= 0 or dropped >= max_drop:
            break
        nr = _normalised_residuals(prob, p, sol, masks)
        j = int(np.nanargmax(nr)) if np.isfinite(nr).any() else -1
        n_now = int(sum(m.sum() for m in masks))
        if j < 0 or nr[j] <= cfg.outlier_cutoff or n_now - 1 < max(cfg.min_defining, n_params):
            break
        kind, i = divmod(j, len(prob.t_obs))
        if kind == 0 and masks[0].sum() <= 1:
            break
        masks[kind][i] = False
        what = ("time", "azimuth", "slowness")[kind]
        prob.note[i] = _join(prob.note[i], f"{what} outlier |r|/sigma={nr[j]:.1f}")
        dropped += 1
        sol2 = _solve(prob, sol.lat, sol.lon, sol.depth, sol.t0, not fixed, masks, cfg)
        total_it += sol2.iterations
        sol = sol2
    return _finish(prob, sol, masks, fixed, notes, total_it, cfg)


def residuals_at(arrivals: pd.DataFrame, stations: pd.DataFrame, tt, latitude: float,
                 longitude: float, depth_km: float, time, config: LocatorConfig | None = None,
                 water_speed_km_s: float = DEFAULT_SOUND_SPEED_KM_S) -> pd.DataFrame:
    """The residual table (:data:`RESIDUAL_COLUMNS`) of ``arrivals`` at a given hypocentre,
    without any inversion: what :func:`locate` would report for that origin, e.g. to compare
    our travel times with a bulletin's own residuals at the bulletin's solution.

    :param latitude, longitude: epicentre, deg (geographic).
    :param depth_km: depth below sea level, km.
    :param time: origin time (epoch s, :class:`~obspy.UTCDateTime` or ISO string).
    """
    cfg = config or LocatorConfig()
    prob = _Problem(arrivals, stations, tt, cfg, water_speed_km_s)
    lat = float(geocentric_latitude(latitude)) if cfg.geocentric else float(latitude)
    p = prob.predict(lat, float(longitude), float(depth_km))
    prob.set_time_sigmas(p["dist"])
    return _residual_frame(prob, p, UTCDateTime(time).timestamp,
                           [prob.def_t, prob.def_a, prob.def_s])


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _normalised_residuals(prob: _Problem, p: dict, sol: _Solution, masks) -> np.ndarray:
    """|r| / sigma of time, azimuth and slowness data stacked (NaN where not defining)."""
    rt = np.abs(prob.t_obs - sol.t0 - p["T"]) / prob.sig_t
    ra = np.abs(wrap180(prob.baz_obs - p["baz"])) / prob.sig_az
    rs = np.abs(prob.slow_obs - p["u"]) / prob.sig_s
    out = np.concatenate([np.where(masks[0], rt, np.nan), np.where(masks[1], ra, np.nan),
                          np.where(masks[2], rs, np.nan)])
    return out


def _residual_frame(prob: _Problem, p: dict | None, t0: float, masks) -> pd.DataFrame:
    n = len(prob.t_obs)
    nan = np.full(n, np.nan)
    if p is None:
        p = {k: nan for k in ("dist", "az", "baz", "T", "ec", "ell", "u")}
    df = pd.DataFrame({
        "station": prob.station, "network": prob.network, "phase": prob.phase,
        "table_phase": prob.table_phase.astype(str),
        "distance_deg": p["dist"], "azimuth_deg": p["az"], "backazimuth_deg": p["baz"],
        "travel_time_s": p["T"], "elevation_correction_s": p["ec"],
        "ellipticity_correction_s": p["ell"],
        "time_residual_s": prob.t_obs - t0 - p["T"],
        "time_uncertainty_s": prob.sig_t,
        "time_defining": masks[0],
        "backazimuth_residual_deg": wrap180(prob.baz_obs - p["baz"]),
        "backazimuth_uncertainty_deg": np.where(np.isfinite(prob.baz_obs), prob.sig_az, np.nan),
        "azimuth_defining": masks[1],
        "slowness_s_deg": p["u"],
        "slowness_residual_s_deg": prob.slow_obs - p["u"],
        "slowness_uncertainty_s_deg": np.where(np.isfinite(prob.slow_obs), prob.sig_s, np.nan),
        "slowness_defining": masks[2],
        "pick_id": prob.pick_id,
        "note": prob.note.astype(str),
    }, index=prob.index)
    return df[list(RESIDUAL_COLUMNS)]


def _failed(prob: _Problem, start_h, message: str, notes, cfg) -> LocationResult:
    lat = lon = depth = t = math.nan
    p = None
    if start_h is not None:
        lat, lon = start_h[0], start_h[1]
        depth = start_h[2] if start_h[2] is not None else cfg.fixed_depth_km
        t = start_h[3] if start_h[3] is not None else math.nan
        p = prob.predict(lat, lon, depth, slowness_derivs=False)
    masks = [prob.def_t & False, prob.def_a & False, prob.def_s & False]
    arr = _residual_frame(prob, p, t if math.isfinite(t) else 0.0, masks)
    if not math.isfinite(t):
        arr["time_residual_s"] = np.nan
    out_lat = float(geographic_latitude(lat)) if (cfg.geocentric and math.isfinite(lat)) else lat
    return LocationResult(
        latitude=float(out_lat), longitude=float(lon), depth_km=float(depth),
        time=UTCDateTime(t) if math.isfinite(t) else None,
        depth_type="fixed" if cfg.depth_mode == "fixed" else "free", converged=False,
        message="; ".join([message, *notes]), iterations=0, covariance=None,
        parameters=(), ellipse=None, depth_uncertainty_km=math.nan,
        time_uncertainty_s=math.nan, depth_std_km=math.nan, time_std_s=math.nan,
        sigma_hat=math.nan, ndf=math.nan, confidence=cfg.confidence, rms_s=math.nan,
        weighted_rms=math.nan, azimuthal_gap_deg=math.nan, min_distance_deg=math.nan,
        max_distance_deg=math.nan, ndef=0, nsta=0, n_time_defining=0, n_azimuth_defining=0,
        n_slowness_defining=0, arrivals=arr, missing_stations=prob.missing_stations,
        model=str(getattr(prob.tt.model, "model_id", "")))


def _finish(prob: _Problem, sol: _Solution, masks, fixed: bool, notes, iterations: int,
            cfg: LocatorConfig) -> LocationResult:
    depth_type = "fixed" if fixed else "free"
    if not fixed and (sol.depth <= prob.depth_lo + 1e-6 or sol.depth >= prob.depth_hi - 1e-6):
        depth_type = "bound"
        notes = [*notes, f"depth held at the {sol.depth:g} km bound"]
    free = depth_type == "free"
    G, r, _, p = prob.system(sol.lat, sol.lon, sol.depth, sol.t0, free, masks)
    # data without a prediction at the solution are not defining
    for m, key in ((masks[0], "T"), (masks[2], "u")):
        bad = m & ~np.isfinite(p[key])
        for i in np.flatnonzero(bad):
            prob.note[i] = _join(prob.note[i], "no prediction at the solution")
        m &= ~bad
    n_params = G.shape[1]
    ndf, sigma_hat = jordan_sverdrup(r, n_params, cfg.prior_dof, cfg.prior_sigma)
    params = tuple(q for q in PARAMETERS if free or q != "depth_km")
    cov = None
    ellipse = None
    dz90 = dt90 = dzs = dts = math.nan
    if r.size >= n_params and ndf > 0 and math.isfinite(sigma_hat):
        cov = np.linalg.pinv(G.T @ G, rcond=1e-12, hermitian=True) * sigma_hat ** 2
        ellipse = error_ellipse(cov[:2, :2], ndf, cfg.confidence)
        it_ = params.index("time_s")
        dts = math.sqrt(max(cov[it_, it_], 0.0))
        dt90 = half_interval(cov[it_, it_], ndf, cfg.confidence)
        if free:
            dzs = math.sqrt(max(cov[2, 2], 0.0))
            dz90 = half_interval(cov[2, 2], ndf, cfg.confidence)
    arr = _residual_frame(prob, p, sol.t0, masks)
    tdef = arr["time_residual_s"][masks[0]].to_numpy()
    rms = float(np.sqrt(np.mean(tdef ** 2))) if tdef.size else math.nan
    wrms = float(np.sqrt(np.mean(r ** 2))) if r.size else math.nan
    any_def = masks[0] | masks[1] | masks[2]
    sta_keys = {(prob.network[i], prob.station[i]) for i in np.flatnonzero(any_def)}
    first = {}
    for i in np.flatnonzero(any_def):
        first.setdefault((prob.network[i], prob.station[i]), i)
    idx = np.array(sorted(first.values()), dtype=int)
    from pipeline.store.catalog import azimuthal_gap

    gap = azimuthal_gap([float(a) for a in p["az"][idx]]) if idx.size else None
    lat_out = float(geographic_latitude(sol.lat)) if cfg.geocentric else sol.lat
    msg = "; ".join([sol.message, *notes])
    return LocationResult(
        latitude=lat_out, longitude=float(sol.lon), depth_km=float(sol.depth),
        time=UTCDateTime(sol.t0), depth_type=depth_type, converged=sol.converged,
        message=msg, iterations=iterations, covariance=cov, parameters=params,
        ellipse=ellipse, depth_uncertainty_km=dz90, time_uncertainty_s=dt90,
        depth_std_km=dzs, time_std_s=dts, sigma_hat=float(sigma_hat), ndf=float(ndf),
        confidence=cfg.confidence, rms_s=rms, weighted_rms=wrms,
        azimuthal_gap_deg=float(gap) if gap is not None else math.nan,
        min_distance_deg=float(np.min(p["dist"][idx])) if idx.size else math.nan,
        max_distance_deg=float(np.max(p["dist"][idx])) if idx.size else math.nan,
        ndef=int(sum(m.sum() for m in masks)), nsta=len(sta_keys),
        n_time_defining=int(masks[0].sum()), n_azimuth_defining=int(masks[1].sum()),
        n_slowness_defining=int(masks[2].sum()), arrivals=arr,
        missing_stations=prob.missing_stations,
        model=str(getattr(prob.tt.model, "model_id", "")))


# -- obspy edges -------------------------------------------------------------------------------
def arrivals_from_event(event, origin=None, defining_only: bool = True) -> pd.DataFrame:
    """Arrivals DataFrame from an obspy ``Event`` (its picks and an origin's arrivals).

    :param event: obspy :class:`~obspy.core.event.Event` with picks.
    :param origin: the origin whose arrivals to take (default: preferred, else first).
    :param defining_only: set ``use_time``/``use_azimuth``/``use_slowness`` from the arrival's
        ``time_weight``/``backazimuth_weight``/``horizontal_slowness_weight`` (> 0 = defining,
        missing = not); otherwise every measured datum may define.
    :returns: DataFrame with the columns of the module docstring (times epoch s) plus
        ``pick_id``; one row per arrival whose pick is found and has a time (a pick without a time
        is left out with a :class:`~pipeline.io.columns.SkippedInputWarning` naming it).
    """
    origin = origin or event.preferred_origin() or (event.origins[0] if event.origins else None)
    if origin is None:
        raise LocationError("event has no origin with arrivals")
    picks = {str(p.resource_id): p for p in event.picks}
    rows = []
    for a in origin.arrivals:
        pk = picks.get(str(a.pick_id))
        if pk is None:
            continue
        if pk.time is None:  # invalid QuakeML, but obspy builds such picks: say so, locate the rest
            wid = pk.waveform_id
            warnings.warn(f"pick {pk.resource_id} ({(wid.station_code if wid else None) or '?'} "
                          f"{a.phase or pk.phase_hint or '?'}) skipped: no time", SkippedInputWarning, stacklevel=2)
            continue
        wid = pk.waveform_id
        te = pk.time_errors.uncertainty if pk.time_errors else None
        be = pk.backazimuth_errors.uncertainty if pk.backazimuth_errors else None
        se = pk.horizontal_slowness_errors.uncertainty if pk.horizontal_slowness_errors else None

        def flag(w):
            return (w is not None and w > 0) if defining_only else True

        rows.append({
            "network": (wid.network_code or "") if wid else "",
            "station": (wid.station_code or "") if wid else "",
            "phase": a.phase or pk.phase_hint or "",
            "time": float(pk.time.timestamp),
            "time_uncertainty": np.nan if te is None else float(te),
            "backazimuth": np.nan if pk.backazimuth is None else float(pk.backazimuth),
            "backazimuth_uncertainty": np.nan if be is None else float(be),
            "slowness": np.nan if pk.horizontal_slowness is None else float(pk.horizontal_slowness),
            "slowness_uncertainty": np.nan if se is None else float(se),
            "use_time": flag(a.time_weight),
            "use_azimuth": flag(a.backazimuth_weight),
            "use_slowness": flag(a.horizontal_slowness_weight),
            "pick_id": str(pk.resource_id),
        })
    cols = ["network", "station", "phase", "time", "time_uncertainty", "backazimuth",
            "backazimuth_uncertainty", "slowness", "slowness_uncertainty", "use_time",
            "use_azimuth", "use_slowness", "pick_id"]
    return pd.DataFrame(rows, columns=cols)
