"""Earth models for travel-time tables: obspy built-ins and local 1-D layered models.

Two kinds of model are supported:

* an obspy TauP built-in (``"ak135"``, ``"iasp91"``, ``"prem"``, ...): used as shipped;
* a local 1-D layered model read from a velocity file (:func:`read_velocity_file`), converted
  to an obspy TauP model (``.nd`` file → ``.npz``) in a cache folder, on top of a global base
  model (ak135 by default) below its deepest layer (:func:`build_layered_taup_model`).

Velocity file format
--------------------
CSV with a header naming (at least) the columns ``Depth``, ``Vp`` and ``Vs`` (any order, case
insensitive, extra columns ignored); blank lines and lines starting with ``#`` are ignored::

    Depth,Vp,Vs
    -3.000,1.500,0.843
    1.000,4.000,2.247
    ...

``Depth`` is the depth of the **top** of each layer in km below sea level (negative = above sea
level), strictly increasing; ``Vp`` and ``Vs`` are the P and S velocities at that depth in km/s
(``Vp > 0``, ``0 <= Vs < Vp``; ``Vs = 0`` is a fluid layer). The deepest layer is a
half-space in the file; here it is given a thickness (``half_space_thickness_km``, default
30 km) and the base model (ak135) continues below it.

Between two rows the velocity is either constant (``interpolation="constant"``, the default:
blocks, first-order discontinuities at every row) or varies linearly in depth to the next row's
value (``interpolation="linear"``: a continuous gradient model, constant only in the deepest
layer). The same file means different Earths under the two readings, so the choice is part of
the model's identity (hash). QuakeMigrate (``quakemigrate.lut.create_lut._compute_1d_nlloc``,
``block_model=False`` by default) reads its velocity files -- e.g. the Iceland model of its
examples -- as linear gradients (NonLinLoc ``LAYER`` lines with the gradient to the next row);
read with blocks, the Iceland file's 1.5 km/s top row becomes a 4 km thick layer of 1.5 km/s
(-3 to 1 km), which delays P by ~0.9 s and S by ~1.5 s against the gradient reading.

Depth reference (important)
---------------------------
TauP measures depth from the top of the model (the planet's surface). A local model whose first
layer starts above sea level (Iceland: -3 km) is therefore **shifted**: TauP depth 0 is the model
top, TauP depth = depth below sea level - ``top_km``. The base model keeps sea level at radius
6371 km, so the TauP planet radius is ``6371 - top_km`` (6374 km for Iceland) and angular
distances map to the same kilometres at sea level as for ak135.

Everything outside this module uses **depth below sea level** (km, positive down):
:class:`ModelInfo` converts with :meth:`ModelInfo.taup_depth`. For built-in models ``top_km`` is
0 and the two coincide (depth below the model's surface, which ak135 puts at sea level). Station
elevations are km above sea level; a station at elevation ``e`` sits at TauP depth
``-e - top_km``. Travel-time tables put the receiver at a reference elevation (default: the model
top: 3 km above sea level for Iceland, sea level for ak135) and correct to a station's elevation
with the ray parameter (:meth:`ModelInfo.vertical_slowness_integral`): through the model's
layers below the top (Iceland read as blocks: -1.67 s for a P vertical ray to a station at
0.5 km), with the top layer's velocity continued upwards above it (ak135: +1/5.8 s per km for
a vertical P ray).
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.util import sha256_file

#: radius of the Earth at sea level used by ak135/iasp91, km
EARTH_RADIUS_KM = 6371.0
#: bump when the generated ``.nd`` content or the hashing scheme changes
MODEL_FORMAT_VERSION = 1
#: how velocities vary between the rows of a velocity file (see the module docstring)
INTERPOLATIONS = ("constant", "linear")


class VelocityFileError(InputError):
    """A velocity file is malformed; the message names the file and the line."""


def _obspy_taup_data_dir() -> Path:
    import obspy.taup

    return Path(obspy.taup.__file__).resolve().parent / "data"


def builtin_model_names() -> tuple[str, ...]:
    """Names of the obspy TauP built-in models (``ak135``, ``iasp91``, ``prem``, ...)."""
    return tuple(sorted(p.stem for p in _obspy_taup_data_dir().glob("*.npz")))


def _gardner_density(vp_km_s: float) -> float:
    """Density in g/cm^3 from Vp (Gardner); only written because ``.nd`` needs it (TauP does
    not use density for travel times)."""
    return round(max(1.0, 0.31 * (1000.0 * vp_km_s) ** 0.25), 4) if vp_km_s > 0 else 1.0


@dataclass(frozen=True)
class LayeredModel:
    """A local 1-D model of constant-velocity layers.

    :param name: short model name (used in the model id and file names).
    :param top_km: depth of the top of each layer, km below sea level, strictly increasing.
    :param vp_km_s: P velocity of each layer, km/s.
    :param vs_km_s: S velocity of each layer, km/s.
    :param half_space_thickness_km: thickness given to the deepest layer (a half-space in the
        file) before the base model takes over, km.
    :param moho_km: depth below sea level of the discontinuity TauP names the Moho (``Pn``,
        ``Sn`` travel along it; ``Pg``, ``Sg`` stay above it); default: the top of the deepest
        layer, i.e. the deepest layer is the uppermost mantle. Must be a layer top.
    :param base_model: obspy model (``.tvel``/``.nd`` in obspy's data folder) continued below.
    :param source: the file the model came from (informational, not part of the hash).
    :param interpolation: ``"constant"`` (each layer has the constant velocity of its top row)
        or ``"linear"`` (the velocity varies linearly from a row's value at its depth to the
        next row's value at the next depth; the deepest layer is constant). See the module
        docstring.
    """

    name: str
    top_km: tuple[float, ...]
    vp_km_s: tuple[float, ...]
    vs_km_s: tuple[float, ...]
    half_space_thickness_km: float = 30.0
    moho_km: float | None = None
    base_model: str = "ak135"
    source: str = field(default="", compare=False)
    interpolation: str = "constant"

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"{self.name}: interpolation={self.interpolation!r} must be one of "
                             f"{', '.join(INTERPOLATIONS)}")
        n = len(self.top_km)
        if n == 0 or len(self.vp_km_s) != n or len(self.vs_km_s) != n:
            raise ValueError(f"{self.name}: top_km, vp_km_s, vs_km_s must have the same "
                             "non-zero length")
        if np.any(np.diff(self.top_km) <= 0):
            raise ValueError(f"{self.name}: layer tops must be strictly increasing")
        if min(self.vp_km_s) <= 0 or min(self.vs_km_s) < 0:
            raise ValueError(f"{self.name}: velocities must be positive")
        if any(s >= p for p, s in zip(self.vp_km_s, self.vs_km_s)):
            raise ValueError(f"{self.name}: Vs must be smaller than Vp in every layer")
        if self.half_space_thickness_km <= 0:
            raise ValueError(f"{self.name}: half_space_thickness_km must be > 0")
        if self.moho_km is not None and self.moho_km not in self.top_km[1:]:
            raise ValueError(f"{self.name}: moho_km={self.moho_km} is not the top of a layer "
                             "(other than the first)")

    # -- geometry ------------------------------------------------------------------------
    @property
    def model_top_km(self) -> float:
        """Depth of the top of the model below sea level, km (negative = above sea level)."""
        return float(self.top_km[0])

    @property
    def base_km(self) -> float:
        """Depth below sea level where the base model takes over, km."""
        return float(self.top_km[-1]) + float(self.half_space_thickness_km)

    @property
    def moho_depth_km(self) -> float:
        """Depth below sea level of the Moho given to TauP, km."""
        if self.moho_km is not None:
            return float(self.moho_km)
        return float(self.top_km[-1]) if len(self.top_km) > 1 else self.base_km

    def layer_bottoms_km(self) -> np.ndarray:
        """Depth of the bottom of each layer below sea level, km (the last = :attr:`base_km`)."""
        return np.append(np.asarray(self.top_km[1:], float), self.base_km)

    def layer_velocities(self, wave: str = "P") -> tuple[np.ndarray, np.ndarray]:
        """Velocity at the top and at the bottom of each layer, km/s (equal for
        ``interpolation="constant"`` and in the deepest layer)."""
        v = np.asarray(self.vp_km_s if wave.upper() == "P" else self.vs_km_s, float)
        if self.interpolation == "linear":
            return v, np.append(v[1:], v[-1])
        return v, v

    def vertical_time(self, top_km: float, bottom_km: float, wave: str = "P") -> float:
        """Vertical one-way travel time between two depths below sea level, s.

        :param top_km: upper depth, km below sea level (>= :attr:`model_top_km`).
        :param bottom_km: lower depth, km below sea level (<= :attr:`base_km`).
        :param wave: ``"P"`` or ``"S"``.
        """
        v0, v1 = self.layer_velocities(wave)
        tops = np.asarray(self.top_km, float)
        bots = self.layer_bottoms_km()
        a = np.maximum(tops, top_km)
        b = np.minimum(bots, bottom_km)
        h = np.clip(b - a, 0.0, None)
        g = (v1 - v0) / (bots - tops)  # velocity gradient in each layer, 1/s
        va = v0 + g * (a - tops)
        vb = v0 + g * (np.maximum(a, b) - tops)
        with np.errstate(divide="ignore", invalid="ignore"):
            # integral of dz / (va + g z) = ln(vb / va) / g; h / v where g = 0
            t = np.where(np.abs(g) > 1e-12, np.log(vb / va) / np.where(g == 0, 1.0, g), h / va)
        return float(np.sum(np.where(h > 0, t, 0.0)))

    # -- identity --------------------------------------------------------------------------
    def canonical(self) -> dict:
        """The content that defines the model (what :attr:`sha256` hashes; ``interpolation``
        only when not the default, so block models keep their ids)."""
        base = _base_model_file(self.base_model)
        extra = {} if self.interpolation == "constant" else {"interpolation": self.interpolation}
        return {**extra,
            "format": MODEL_FORMAT_VERSION,
            "layers": [[float(z), float(p), float(s)]
                       for z, p, s in zip(self.top_km, self.vp_km_s, self.vs_km_s)],
            "half_space_thickness_km": float(self.half_space_thickness_km),
            "moho_km": self.moho_depth_km,
            "base_model": self.base_model,
            "base_model_sha256": sha256_file(base),
        }

    @cached_property
    def sha256(self) -> str:
        """SHA-256 (hex) of :meth:`canonical` (layers, junction parameters, base model file)."""
        blob = json.dumps(self.canonical(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def model_id(self) -> str:
        """``<name>-<first 16 hex of sha256>``: changes whenever the model content changes."""
        return f"{_safe_name(self.name)}-{self.sha256[:16]}"

    # -- TauP input --------------------------------------------------------------------------
    def to_nd(self) -> str:
        """The model as an obspy/TauP ``.nd`` text (TauP depth = depth - :attr:`model_top_km`).

        Layers become pairs of rows (top, bottom): equal velocities (first-order
        discontinuities between layers) or, with ``interpolation="linear"``, the next row's
        velocities at the bottom (a continuous gradient); the base model's velocity layers
        follow below :attr:`base_km`, with named ``mantle``, ``outer-core`` and ``inner-core``
        discontinuities.
        """
        from obspy.taup.velocity_model import VelocityModel

        top = self.model_top_km
        base = self.base_km
        bmod = VelocityModel.read_velocity_file(str(_base_model_file(self.base_model)))
        if base >= bmod.cmb_depth:
            raise ValueError(f"{self.name}: layered model reaches {base} km, below the base "
                             f"model's core-mantle boundary ({bmod.cmb_depth} km)")
        rows: list[str] = [
            f"# generated by idc-pipeline from {self.source or self.name}",
            f"# model id {self.model_id}; depth 0 = model top = {top:g} km below sea level",
            "# depth_km vp_km_s vs_km_s density_g_cm3",
        ]

        def row(z, vp, vs, rho):
            rows.append(f"{z - top:.6f} {vp:.6f} {vs:.6f} {rho:.4f}")

        moho = self.moho_depth_km
        bots = self.layer_bottoms_km()
        vp0, vp1 = self.layer_velocities("P")
        vs0, vs1 = self.layer_velocities("S")
        for z0, z1, p0, p1, s0, s1 in zip(self.top_km, bots, vp0, vp1, vs0, vs1):
            if z0 == moho and z0 != top:
                rows.append("mantle")
            row(z0, p0, s0, _gardner_density(p0))
            row(z1, p1, s1, _gardner_density(p1))
        if moho == base:
            rows.append("mantle")
        named = {bmod.cmb_depth: "outer-core", bmod.iocb_depth: "inner-core"}
        first = True
        for lay in bmod.layers:
            z0, z1 = float(lay["top_depth"]), float(lay["bot_depth"])
            if z1 <= base:
                continue
            if first:  # split the base-model layer that contains the junction
                f = (base - z0) / (z1 - z0) if z1 > z0 else 0.0
                vals = [lay[f"top_{k}"] + f * (lay[f"bot_{k}"] - lay[f"top_{k}"])
                        for k in ("p_velocity", "s_velocity", "density")]
                row(base, *vals)
                first = False
            elif z0 in named:
                rows.append(named.pop(z0))
                row(z0, lay["top_p_velocity"], lay["top_s_velocity"], lay["top_density"])
            else:
                row(z0, lay["top_p_velocity"], lay["top_s_velocity"], lay["top_density"])
            row(z1, lay["bot_p_velocity"], lay["bot_s_velocity"], lay["bot_density"])
        return "\n".join(rows) + "\n"


def _safe_name(name: str) -> str:
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in name)
    return keep or "model"


def _base_model_file(name: str) -> Path:
    data = _obspy_taup_data_dir()
    for ext in (".tvel", ".nd"):
        p = data / f"{name}{ext}"
        if p.exists():
            return p
    raise ValueError(f"base model {name!r}: no {name}.tvel or {name}.nd in {data}")


def read_velocity_file(path: str | Path, name: str | None = None, *,
                       half_space_thickness_km: float = 30.0, moho_km: float | None = None,
                       base_model: str = "ak135", interpolation: str = "constant") -> LayeredModel:
    """Read a ``Depth,Vp,Vs`` CSV velocity file (see the module docstring for the format).

    :param path: the velocity file.
    :param name: model name; defaults to the file stem.
    :param half_space_thickness_km: thickness given to the deepest layer, km.
    :param moho_km: depth (km below sea level) of the layer top named Moho for TauP; default
        the top of the deepest layer.
    :param base_model: obspy model continued below the layered model.
    :param interpolation: ``"constant"`` (blocks) or ``"linear"`` (gradients between rows);
        see the module docstring.
    :raises VelocityFileError: naming the file and line (missing column, value that is not a
        number, non-increasing depth, non-positive velocity, ``Vs >= Vp``, no layers).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise VelocityFileError(f"{path}: cannot read velocity file: {exc}") from None
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise VelocityFileError(f"{path}: empty velocity file (expected a Depth,Vp,Vs header)")
    hline, header = lines[0]
    cols = [c.strip().lower() for c in next(csv.reader([header]))]
    idx = {}
    for want in ("depth", "vp", "vs"):
        if want not in cols:
            raise VelocityFileError(
                f"{path}:{hline}: missing column {want.capitalize()!r} in header {header.strip()!r}"
                " (expected Depth,Vp,Vs: layer top in km below sea level, velocities in km/s)")
        idx[want] = cols.index(want)
    tops: list[float] = []
    vps: list[float] = []
    vss: list[float] = []
    prev_line = hline
    for lineno, ln in lines[1:]:
        cells = [c.strip() for c in next(csv.reader([ln]))]
        vals = {}
        for key, j in idx.items():
            label = {"depth": "Depth", "vp": "Vp", "vs": "Vs"}[key]
            if j >= len(cells) or cells[j] == "":
                raise VelocityFileError(f"{path}:{lineno}: missing value for column {label!r} "
                                        f"in {ln.strip()!r}")
            try:
                vals[key] = float(cells[j])
            except ValueError:
                raise VelocityFileError(f"{path}:{lineno}: column {label!r}: {cells[j]!r} is "
                                        "not a number") from None
            if not math.isfinite(vals[key]):
                raise VelocityFileError(f"{path}:{lineno}: column {label!r} is not finite")
        z, vp, vs = vals["depth"], vals["vp"], vals["vs"]
        if tops and z <= tops[-1]:
            raise VelocityFileError(
                f"{path}:{lineno}: depth {z:g} km is not greater than the previous layer top "
                f"{tops[-1]:g} km (line {prev_line}); depths (layer tops) must increase")
        if vp <= 0:
            raise VelocityFileError(f"{path}:{lineno}: Vp = {vp:g} km/s must be positive")
        if vs < 0:
            raise VelocityFileError(f"{path}:{lineno}: Vs = {vs:g} km/s must not be negative")
        if vs >= vp:
            raise VelocityFileError(f"{path}:{lineno}: Vs = {vs:g} km/s must be smaller than "
                                    f"Vp = {vp:g} km/s")
        tops.append(z)
        vps.append(vp)
        vss.append(vs)
        prev_line = lineno
    if not tops:
        raise VelocityFileError(f"{path}: no layers below the header")
    if moho_km is not None and moho_km not in tops[1:]:
        raise VelocityFileError(f"{path}: moho_km={moho_km} is not the top of a layer")
    try:
        return LayeredModel(name=name or path.stem, top_km=tuple(tops), vp_km_s=tuple(vps),
                            vs_km_s=tuple(vss), half_space_thickness_km=half_space_thickness_km,
                            moho_km=moho_km, base_model=base_model, source=str(path),
                            interpolation=interpolation)
    except ValueError as exc:
        raise VelocityFileError(f"{path}: {exc}") from None


def build_layered_taup_model(model: LayeredModel, cache_dir: str | Path) -> Path:
    """Write ``<model_id>.nd`` and build the obspy TauP model ``<model_id>.npz`` in
    ``cache_dir/models`` (skipped when the ``.npz`` exists; written atomically).

    :returns: path of the ``.npz`` file (loadable with ``TauPyModel(str(path))``).
    """
    from obspy.taup.taup_create import build_taup_model

    folder = Path(cache_dir) / "models"
    npz = folder / f"{model.model_id}.npz"
    if npz.exists():
        return npz
    folder.mkdir(parents=True, exist_ok=True)
    nd_text = model.to_nd()
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        tmp_nd = Path(tmp) / f"{model.model_id}.nd"
        tmp_nd.write_text(nd_text)
        build_taup_model(str(tmp_nd), output_folder=tmp, verbose=False)
        tmp_npz = Path(tmp) / f"{model.model_id}.npz"
        if not tmp_npz.exists():  # obspy prints (does not raise) on some failures
            raise RuntimeError("obspy could not build a TauP model from "
                               f"{model.source or model.name}")
        os.replace(tmp_nd, folder / tmp_nd.name)
        os.replace(tmp_npz, npz)
    return npz


@dataclass(frozen=True)
class ModelInfo:
    """A model ready for TauP, with its depth reference.

    :param name: model name.
    :param model_id: ``<name>-<16 hex of SHA-256 of the model content>``.
    :param taup_model: what ``TauPyModel`` loads: a built-in name or an ``.npz`` path.
    :param top_km: depth below sea level of TauP depth 0, km (negative = above sea level).
    :param sha256: full SHA-256 of the model content (layered) or of obspy's ``.npz`` (built-in).
    :param layered: the layered model, when there is one.
    :param cache_dir: where the layered model's TauP files are (built on first use).
    """

    name: str
    model_id: str
    taup_model: str
    top_km: float = 0.0
    sha256: str = ""
    layered: LayeredModel | None = field(default=None, compare=False)
    cache_dir: str | None = field(default=None, compare=False)

    def taup_depth(self, depth_km):
        """TauP depth (km below the model top) of a depth in km below sea level."""
        return np.asarray(depth_km, float) - self.top_km

    def sea_level_depth(self, taup_depth_km):
        """Depth below sea level (km) of a TauP depth (km below the model top)."""
        return np.asarray(taup_depth_km, float) + self.top_km

    @cached_property
    def tau_model(self):
        """The obspy :class:`~obspy.taup.tau_model.TauModel` (loaded once)."""
        from obspy.taup.tau_model import TauModel

        if self.layered is not None and not Path(self.taup_model).exists():
            build_layered_taup_model(self.layered, self.cache_dir)
        # no depth cache: obspy deep-copies the cache into every depth-corrected model
        return TauModel.from_file(self.taup_model, cache=False)

    def taupy(self):
        """A fresh :class:`obspy.taup.TauPyModel` for this model (direct TauP calls)."""
        from obspy.taup import TauPyModel

        self.tau_model  # noqa: B018  (builds a layered model's TauP files if needed)
        return TauPyModel(self.taup_model, cache=False)

    @property
    def radius_km(self) -> float:
        """Radius of the TauP planet (at the model top), km."""
        return float(self.tau_model.radius_of_planet)

    @property
    def moho_km(self) -> float:
        """Depth below sea level of the model's Moho, km."""
        return float(self.sea_level_depth(self.tau_model.moho_depth))

    def velocity(self, depth_km, wave: str = "P", side: str = "below") -> np.ndarray:
        """Velocity at depths below sea level, km/s (``side`` picks the layer at a boundary).

        :param depth_km: depths below sea level, km (within the model).
        :param wave: ``"P"`` or ``"S"``.
        :param side: ``"below"`` or ``"above"``.
        """
        vmod = self.tau_model.s_mod.v_mod
        z = np.clip(self.taup_depth(depth_km), 0.0, self.radius_km)
        fn = vmod.evaluate_below if side == "below" else vmod.evaluate_above
        flat = np.atleast_1d(z).ravel()
        out = np.array([float(fn(float(zz), wave[0].lower())[0]) for zz in flat])
        return out.reshape(np.shape(z))

    def vertical_slowness_integral(self, from_km, to_km, ray_param_s_deg, wave: str = "P",
                                   n_gauss: int = 6) -> np.ndarray:
        """Delay time ``tau = integral sqrt(1/v(z)^2 - p^2/r(z)^2) dz`` between two depths, s.

        This is the travel-time change of a ray with ray parameter ``p`` when its end point
        moves vertically from ``from_km`` to ``to_km`` (both km below sea level); positive when
        ``to_km`` is shallower (the ray is longer). Exact for the model's velocity layers
        (Gauss-Legendre in each layer); post-critical parts contribute 0; above the model top
        (e.g. a station above sea level with ak135) the top layer's velocity is continued
        upwards (the usual elevation correction with the surface velocity).

        :param from_km: depth(s) below sea level the table refers to, km.
        :param to_km: depth(s) below sea level of the actual end point (``-elevation``), km.
        :param ray_param_s_deg: ray parameter, s/deg (array, broadcast with the depths).
        :param wave: ``"P"`` or ``"S"``.
        :returns: seconds to **add** to the travel time (positive when ``to_km < from_km``).
        """
        a, b, p = np.broadcast_arrays(np.asarray(from_km, float), np.asarray(to_km, float),
                                      np.asarray(ray_param_s_deg, float))
        za, zb = self.taup_depth(a), self.taup_depth(b)
        lo, hi = np.minimum(za, zb), np.maximum(za, zb)
        sign = np.where(zb < za, 1.0, -1.0)
        lay = self.tau_model.s_mod.v_mod.layers
        key = "p" if wave.upper().startswith("P") else "s"
        zmax = float(np.nanmax(hi)) if hi.size else 0.0
        lay = lay[lay["top_depth"] <= max(zmax, 0.0)]
        t0 = lay["top_depth"][None, :]
        t1 = lay["bot_depth"][None, :]
        v0 = lay[f"top_{key}_velocity"][None, :]
        v1 = lay[f"bot_{key}_velocity"][None, :]
        lo_f, hi_f = lo.reshape(-1, 1), hi.reshape(-1, 1)
        s0 = np.maximum(t0, lo_f)
        s1 = np.minimum(t1, hi_f)
        h = np.clip(s1 - s0, 0.0, None)
        x, w = np.polynomial.legendre.leggauss(n_gauss)
        prad = (p.reshape(-1, 1) * 180.0 / math.pi)[..., None]
        zq = (s0[..., None] + (x + 1.0) / 2.0 * h[..., None])
        frac = np.where(t1 > t0, (zq - t0[..., None]) / np.where(t1 > t0, t1 - t0, 1.0)[..., None],
                        0.0)
        v = v0[..., None] + frac * (v1 - v0)[..., None]
        r = self.radius_km - zq
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.sqrt(np.clip(1.0 / v ** 2 - (prad / r) ** 2, 0.0, None))
        q = np.where(v > 0, q, 0.0)
        tau = np.sum(np.sum(q * w, axis=-1) * h / 2.0, axis=-1)
        # above the model top (a station higher than the top of ak135, i.e. above sea level):
        # the top layer's velocity continued upwards, as the usual IDC elevation correction
        h_above = np.clip(np.minimum(hi, 0.0) - lo, 0.0, None).ravel()
        if np.any(h_above > 0):
            v_top = float(lay[f"top_{key}_velocity"][0])
            p_flat = p.ravel() * 180.0 / math.pi / self.radius_km
            tau += h_above * np.sqrt(np.clip(1.0 / v_top ** 2 - p_flat ** 2, 0.0, None))
        return (sign.ravel() * tau).reshape(a.shape)


def resolve_model(model, cache_dir: str | Path | None = None) -> ModelInfo:
    """Turn a model reference into a :class:`ModelInfo`.

    A layered model's TauP files (``<cache_dir>/models/<model_id>.nd/.npz``) are built on the
    first use of :attr:`ModelInfo.tau_model` (a few seconds), not here.

    :param model: an obspy built-in name (``"ak135"``, ``"iasp91"``, ...), a velocity file path
        (``Depth,Vp,Vs`` CSV), a :class:`LayeredModel`, or a :class:`ModelInfo` (returned as is).
    :param cache_dir: folder for generated TauP models (``<cache_dir>/models``); required for
        layered models.
    """
    if isinstance(model, ModelInfo):
        return model
    if isinstance(model, str) and model in builtin_model_names():
        npz = _obspy_taup_data_dir() / f"{model}.npz"
        digest = sha256_file(npz)
        return ModelInfo(name=model, model_id=f"{model}-{digest[:16]}", taup_model=model,
                         top_km=0.0, sha256=digest)
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.exists():
            raise ValueError(f"unknown model {str(model)!r}: not an obspy built-in "
                             f"({', '.join(builtin_model_names())}) and no such velocity file")
        model = read_velocity_file(p)
    if not isinstance(model, LayeredModel):
        raise TypeError(f"cannot use {model!r} as a travel-time model")
    if cache_dir is None:
        raise ValueError(f"model {model.name!r}: a cache_dir is needed to build a TauP model "
                         "from a layered model")
    npz = Path(cache_dir) / "models" / f"{model.model_id}.npz"
    return ModelInfo(name=model.name, model_id=model.model_id, taup_model=str(npz),
                     top_km=model.model_top_km, sha256=model.sha256, layered=model,
                     cache_dir=str(cache_dir))


def remove_cached_model(model: LayeredModel, cache_dir: str | Path) -> None:
    """Delete the generated ``.nd``/``.npz`` of ``model`` from ``cache_dir/models``."""
    folder = Path(cache_dir) / "models"
    for ext in (".nd", ".npz"):
        (folder / f"{model.model_id}{ext}").unlink(missing_ok=True)


__all__ = [
    "EARTH_RADIUS_KM", "INTERPOLATIONS", "LayeredModel", "ModelInfo", "VelocityFileError",
    "build_layered_taup_model", "builtin_model_names", "read_velocity_file", "resolve_model", "remove_cached_model",
]
