"""Ellipticity corrections for travel times in a spherical Earth model.

Travel-time tables are computed for a spherical Earth; epicentral distances are great circles
on that sphere with **geocentric** latitudes (:mod:`pipeline.location.geodesy`). The Earth's
flattening (~1/298) changes teleseismic travel times by up to ~±1.5 s (PKP up to ~2.7 s), so
both the IDC's locator (LocSAT: iasp91 + ellipticity corrections) and the ISC's (iLoc: ak135 +
ellipticity) add an ellipticity correction to every predicted time [REFERENCE 2.1].

Method
------
Russell, Rudge, Irving & Cottaar (2022), *A re-examination of ellipticity corrections for
seismic phases*, GJI 231(3), 2095–2101, doi:10.1093/gji/ggac315, implemented in the
``ellipticipy`` package (used here only to *build* the coefficient files): for a ray of
phase ``ph`` with ray parameter ``p`` from a source at depth ``h``,

    δt = Σ_{m=0..2} σ_m(ph, p, h) · L_2^m(cos θ₀) · cos(m ζ)

with θ₀ the source's (geocentric) colatitude, ζ the azimuth from source to receiver and
``L_2^m`` the Schmidt semi-normalised associated Legendre polynomials of degree 2. The three
coefficients σ_m depend on the ray only, so they are tabulated once per model, TauP phase and
source depth (this module), then attached to every node of a
:class:`~pipeline.traveltime.TravelTimeTable` from the node's TauP phase and ray parameter.
For ray-parameter-invariant phases (``Pdiff``, ``Sdiff``) the coefficients are interpolated
in distance instead.

Coefficient files
-----------------
``pipeline/traveltime/data/ellipticity_<model>.npz`` for ak135 and iasp91 are shipped with
the package (built by ``python -m pipeline.traveltime.ellipticity ak135 iasp91``, about one
minute per model; no network). Other built-in obspy models are computed on first use and
cached in the table cache directory. Layered local models (a few degrees at most) get no
correction: at < 3° it is below 0.05 s.

Phases without their own coefficients use a related phase at the same ray parameter (clamped
to its range): ``Pn``/``Pg`` → ``P`` (a Pn ray is the P ray turning just below the Moho),
``Sn``/``Sg`` → ``S``; up-going ``p``/``s`` where they have no samples → ``P``/``S``; the
group-velocity ``Lg`` (``3.5kmps``) gets none.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterable

import numpy as np

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
#: source depths (km below the model surface) at which the coefficients are tabulated; they
#: vary smoothly with depth and are interpolated linearly between these
COEFF_DEPTHS_KM = (0.0, 15.0, 35.0, 70.0, 120.0, 200.0, 300.0, 450.0, 600.0, 700.0)
#: TauP phases with their own coefficient tables
COEFF_PHASES = ("p", "P", "Pdiff", "s", "S", "Sdiff", "PKIKP", "PKP")
#: phases measured along distance (constant ray parameter)
DIFFRACTED = ("Pdiff", "Sdiff")
#: fallback phase (same ray parameter) for phases without (enough) coefficient samples
FALLBACK = {"Pn": "P", "Pg": "P", "p": "P", "Sn": "S", "Sg": "S", "s": "S"}
#: phases that get no correction
NO_CORRECTION = ("3.5kmps",)
FILE_FORMAT = 1


class EllipticityCoefficients:
    """σ0, σ1, σ2 (s) per TauP phase and source depth, as a function of ray parameter.

    :param model: model name (for messages).
    :param depths_km: the tabulated source depths (km below the model surface).
    :param samples: ``{(phase, depth_index): array (5, n)}`` of rows ray parameter (s/rad),
        distance (deg), σ0, σ1, σ2, sorted by the interpolation variable.
    """

    def __init__(self, model: str, depths_km: Iterable[float], samples: dict):
        self.model = model
        self.depths_km = np.asarray(list(depths_km), dtype=float)
        self.samples = samples

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        arrays = {f"{ph}|{k}": a for (ph, k), a in self.samples.items()}
        np.savez_compressed(path, __depths__=self.depths_km, __model__=np.array(self.model),
                            __format__=np.array(FILE_FORMAT), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "EllipticityCoefficients":
        with np.load(path, allow_pickle=False) as z:
            if int(z["__format__"]) != FILE_FORMAT:
                raise ValueError(f"{path}: ellipticity file format {int(z['__format__'])}, "
                                 f"expected {FILE_FORMAT}")
            samples = {}
            for key in z.files:
                if key.startswith("__"):
                    continue
                ph, k = key.rsplit("|", 1)
                samples[(ph, int(k))] = z[key]
            return cls(str(z["__model__"]), z["__depths__"], samples)

    # -- evaluation --------------------------------------------------------------------------
    def _at_depth(self, phase: str, k: int, p: np.ndarray, x: np.ndarray) -> np.ndarray | None:
        a = self.samples.get((phase, k))
        if a is None or a.shape[1] == 0:
            return None
        col = 1 if phase in DIFFRACTED else 0
        q = x if col == 1 else p
        if a.shape[1] == 1:
            return np.repeat(a[2:5, :1], q.size, axis=1)
        return np.vstack([np.interp(q, a[col], a[r]) for r in (2, 3, 4)])

    def node_coefficients(self, phase: str, depth_km: float, p_s_rad, distance_deg) -> np.ndarray:
        """σ0..σ2 (array ``(3, n)``, s) for rays of TauP ``phase`` from ``depth_km`` (km below
        the model surface) with ray parameters ``p_s_rad`` (s/rad) at ``distance_deg``.

        Linear in depth between the tabulated depths (clamped to their range); zeros for
        phases in :data:`NO_CORRECTION`."""
        p = np.atleast_1d(np.asarray(p_s_rad, dtype=float))
        x = np.broadcast_to(np.asarray(distance_deg, dtype=float), p.shape)
        out = np.zeros((3, p.size))
        if phase in NO_CORRECTION or p.size == 0:
            return out
        zs = self.depths_km
        z = float(np.clip(depth_km, zs[0], zs[-1]))
        j = int(np.clip(np.searchsorted(zs, z, "right") - 1, 0, zs.size - 2))
        w = (z - zs[j]) / (zs[j + 1] - zs[j])
        rows = []
        for k in (j, j + 1):
            c = self._at_depth(phase, k, p, x)
            if c is None and phase in FALLBACK:
                c = self._at_depth(FALLBACK[phase], k, p, x)
            rows.append(c)
        if rows[0] is None and rows[1] is None:
            return out
        if rows[0] is None:
            return rows[1]
        if rows[1] is None:
            return rows[0]
        return (1.0 - w) * rows[0] + w * rows[1]


def legendre_weights(colatitude_rad):
    """Schmidt semi-normalised ``L_2^m(cos θ)`` for m = 0, 1, 2 (as ``ellipticipy``)."""
    c, s = np.cos(colatitude_rad), np.sin(colatitude_rad)
    return (0.5 * (3.0 * c * c - 1.0),
            math.sqrt(2.0 / 6.0) * 3.0 * c * s,
            math.sqrt(2.0 / 24.0) * 3.0 * s * s)


def correction(c0, c1, c2, source_latitude_deg, azimuth_deg):
    """Ellipticity correction (s, **added** to the spherical travel time).

    :param c0, c1, c2: the ray's coefficients σ0, σ1, σ2 (s), arrays broadcast together.
    :param source_latitude_deg: geocentric latitude of the source, deg.
    :param azimuth_deg: azimuth from source to receiver, deg clockwise from north.
    """
    theta = np.radians(90.0 - np.asarray(source_latitude_deg, dtype=float))
    zeta = np.radians(np.asarray(azimuth_deg, dtype=float))
    l0, l1, l2 = legendre_weights(theta)
    return c0 * l0 + c1 * l1 * np.cos(zeta) + c2 * l2 * np.cos(2.0 * zeta)


# -- building -----------------------------------------------------------------------------------
def compute(model: str, phases: Iterable[str] = COEFF_PHASES,
            depths_km: Iterable[float] = COEFF_DEPTHS_KM, progress: bool = False
            ) -> EllipticityCoefficients:
    """Tabulate σ0..σ2 with ``ellipticipy`` for an obspy built-in (or TauP ``.npz``) model."""
    import warnings

    from obspy.taup import TauPyModel
    try:
        from ellipticipy.tools import table_ellipticity_coefficients
    except ImportError as exc:  # pragma: no cover - pinned dependency
        raise RuntimeError("computing ellipticity coefficients needs the 'ellipticipy' "
                           "package (pinned in constraints.txt)") from exc
    tmodel = TauPyModel(model)
    depths = [float(z) for z in depths_km]
    samples = {}
    for k, z in enumerate(depths):
        for ph in phases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    tab = table_ellipticity_coefficients(ph, tmodel, source_depth_in_km=z)
                except Exception as exc:  # a phase that does not exist at this depth (several types); logged
                    log.debug("no ellipticity coefficients for %s at %s km: %s", ph, z, exc)
                    tab = {"ray_param": np.zeros(0), "degrees": np.zeros(0),
                           "ellip_coeffs": np.zeros((0, 3))}
            p = np.asarray(tab["ray_param"], float)
            x = np.asarray(tab["degrees"], float)
            c = np.asarray(tab["ellip_coeffs"], float).reshape(-1, 3)
            ok = np.isfinite(p) & np.isfinite(x) & np.all(np.isfinite(c), axis=1)
            a = np.vstack([p[ok], x[ok], c[ok].T])
            order = np.argsort(a[1] if ph in DIFFRACTED else a[0], kind="stable")
            samples[(ph, k)] = a[:, order]
            if progress:
                print(f"  {model} {ph:6s} {z:5.0f} km: {a.shape[1]} rays", flush=True)
    return EllipticityCoefficients(model, depths, samples)


_CACHE: dict[str, EllipticityCoefficients] = {}


def coefficients_for(model_name: str, cache_dir: str | Path | None = None
                     ) -> EllipticityCoefficients:
    """The coefficients of an obspy built-in model: the shipped file, else a cached one in
    ``cache_dir``, else computed now (about a minute) and cached there."""
    if model_name in _CACHE:
        return _CACHE[model_name]
    shipped = DATA_DIR / f"ellipticity_{model_name}.npz"
    cached = Path(cache_dir) / f"ellipticity_{model_name}.npz" if cache_dir else None
    for path in (shipped, cached):
        if path is not None and path.exists():
            coeffs = EllipticityCoefficients.load(path)
            break
    else:
        log.info("computing ellipticity coefficients for %s (once; about a minute)", model_name)
        coeffs = compute(model_name)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npz")
            coeffs.save(tmp)
            tmp.replace(cached)
    _CACHE[model_name] = coeffs
    return coeffs


def main(argv=None) -> int:
    """``python -m pipeline.traveltime.ellipticity MODEL...``: (re)build the shipped files."""
    import argparse
    import time

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="obspy built-in model names, e.g. ak135 iasp91")
    ap.add_argument("--out-dir", default=str(DATA_DIR))
    args = ap.parse_args(argv)
    for name in args.models:
        t0 = time.perf_counter()
        coeffs = compute(name, progress=True)
        out = Path(args.out_dir) / f"ellipticity_{name}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        coeffs.save(out)
        print(f"{out}: {sum(a.shape[1] for a in coeffs.samples.values())} rays, "
              f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
