"""CSS3.0 flat files (NNSA KB Core variant): event, origin, origerr, arrival, assoc, netmag, stamag.

Column positions, widths and NA values are those of REFERENCE §10.2 [NNSA-KB
``obspy/io/css/docs/NNSA_KB_Core_SchemaMan.pdf``], declared once per table in :data:`TABLES` and
written/parsed by :mod:`pipeline.io.columns`. Files are ``<base>.<table>``; ``path`` is either a
directory (then ``<dir>/<dirname>.<table>``) or a basename (a trailing ``.origin`` etc. is ignored).

Mapping (obspy → CSS3.0): integer ids are the resource id's numeric tail where there is one (so ids
read from CSS3.0 are written back unchanged), else sequential; amplitudes in nm (arrival.amp);
``assoc.timedef/azdef/slodef`` = ``d``/``n`` from the arrival weights [REFERENCE §2.4];
``origin.dtype``: ``g`` operator-assigned depth, ``d`` depth phases, ``f`` free; ``origin.etype``:
the IMS1.0 two-letter event type; ``event.evname``: region (≤ 32 characters); ``stamag.ampid`` = the
arid of the arrival whose amplitude it was measured on (there is no amplitude table here);
``lddate``: the catalog's creation time (so a re-write is byte-identical).

Limits: covariance (``origerr.sxx…``) is not known to obspy and written NA; an amplitude per arrival
(the body-wave one, as IMS1.0); the pick's evaluation mode has no CSS3.0 arrival column and is not
kept (``arrival.auth`` is the pick author).
"""
from __future__ import annotations

import math
from pathlib import Path

from obspy import UTCDateTime
from obspy.core.event import (Amplitude, Arrival, Catalog, CreationInfo, Event, EventDescription,
                              Magnitude, Origin, OriginQuality, OriginUncertainty, Pick, QuantityError,
                              ResourceIdentifier, StationMagnitude, StationMagnitudeContribution,
                              WaveformStreamID)

from pipeline.io.columns import Col, FormatError, parse, render
from pipeline.io.common import ETYPE, ETYPE_INV, Ids, arrival_rows, event_region, preferred_origin, stamag_type

FMT = "CSS3.0"
PREFIX = "smi:local/css3"


def _i(name, a, b, na=-1):
    return Col(name, a, b, "i", na=na)


def _f(name, a, b, dec, na=-1.0, **kw):
    return Col(name, a, b, "f", dec, na=na, **kw)


def _a(name, a, b):
    return Col(name, a, b, "a", na="-")


_COV = ["sxx", "syy", "szz", "stt", "sxy", "sxz", "syz", "stx", "sty", "stz"]

#: table → column list [REFERENCE §10.2]; reals NA −1.0 if non-negative, −999.0 if signed
TABLES: dict[str, list[Col]] = {
    "event": [_i("evid", 1, 9), _a("evname", 11, 42), _i("prefor", 44, 51), _a("auth", 53, 67),
              _i("commid", 69, 77), _a("lddate", 79, 97)],
    "origin": [_f("lat", 1, 11, 4, -999.0), _f("lon", 13, 23, 4, -999.0), _f("depth", 25, 33, 4, -999.0),
               _f("time", 35, 51, 5, -9999999999.999), _i("orid", 53, 61), _i("evid", 63, 71),
               _i("jdate", 73, 80), _i("nass", 82, 85), _i("ndef", 87, 90), _i("ndp", 92, 95),
               _i("grn", 97, 104), _i("srn", 106, 113), _a("etype", 115, 121), _f("depdp", 123, 131, 4, -999.0),
               _a("dtype", 133, 133), _f("mb", 135, 141, 2, -999.0), _i("mbid", 143, 151),
               _f("ms", 153, 159, 2, -999.0), _i("msid", 161, 169), _f("ml", 171, 177, 2, -999.0),
               _i("mlid", 179, 187), _a("algorithm", 189, 203), _a("auth", 205, 219), _i("commid", 221, 229),
               _a("lddate", 231, 249)],
    "origerr": [_i("orid", 1, 9)] + [_f(n, 11 + 16 * k, 25 + 16 * k, 4, -999.0) for k, n in enumerate(_COV)]
               + [_f("sdobs", 171, 179, 4), _f("smajax", 181, 189, 4), _f("sminax", 191, 199, 4),
                  _f("strike", 201, 206, 2), _f("sdepth", 208, 216, 4), _f("stime", 218, 223, 3),
                  _f("conf", 225, 229, 3, 0.0), _i("commid", 231, 239), _a("lddate", 241, 259)],
    "arrival": [_a("sta", 1, 6), _f("time", 8, 24, 5, -9999999999.999), _i("arid", 26, 34), _i("jdate", 36, 43),
                _i("stassid", 45, 53), _i("chanid", 55, 62), _a("chan", 64, 71), _a("iphase", 73, 80),
                _a("stype", 82, 82), _f("deltim", 84, 89, 3), _f("azimuth", 91, 97, 2), _f("delaz", 99, 105, 2),
                _f("slow", 107, 113, 2), _f("delslo", 115, 121, 2), _f("ema", 123, 129, 2),
                _f("rect", 131, 137, 3), _f("amp", 139, 149, 2, adaptive=True),
                _f("per", 151, 157, 2, adaptive=True), _f("logat", 159, 165, 2, -999.0), _a("clip", 167, 167),
                _a("fm", 169, 170), _f("snr", 172, 181, 2, adaptive=True), _a("qual", 183, 183),
                _a("auth", 185, 199), _i("commid", 201, 209), _a("lddate", 211, 229)],
    "assoc": [_i("arid", 1, 9), _i("orid", 11, 19), _a("sta", 21, 26), _a("phase", 28, 35),
              _f("belief", 37, 40, 2), _f("delta", 42, 49, 3), _f("seaz", 51, 57, 2, -999.0),
              _f("esaz", 59, 65, 2, -999.0), _f("timeres", 67, 74, 3, -999.0), _a("timedef", 76, 76),
              _f("azres", 78, 84, 1, -999.0), _a("azdef", 86, 86), _f("slores", 88, 94, 2, -999.0),
              _a("slodef", 96, 96), _f("emares", 98, 104, 1, -999.0), _f("wgt", 106, 111, 3),
              _a("vmodel", 113, 127), _i("commid", 129, 137), _a("lddate", 139, 157)],
    "netmag": [_i("magid", 1, 9), _a("net", 11, 18), _i("orid", 20, 28), _i("evid", 30, 38),
               _a("magtype", 40, 45), _i("nsta", 47, 54), _f("magnitude", 56, 62, 2, -999.0),
               _f("uncertainty", 64, 70, 2), _a("auth", 72, 86), _i("commid", 88, 96), _a("lddate", 98, 116)],
    "stamag": [_i("magid", 1, 9), _i("ampid", 11, 19), _a("sta", 21, 26), _i("arid", 28, 36), _i("orid", 38, 46),
               _i("evid", 48, 56), _a("phase", 58, 65), _f("delta", 67, 74, 3), _a("magtype", 76, 81),
               _f("magnitude", 83, 89, 2, -999.0), _f("uncertainty", 91, 97, 2), _f("magres", 99, 105, 2, -999.0),
               _a("magdef", 107, 107), _a("mmodel", 109, 123), _a("auth", 125, 139), _i("commid", 141, 149),
               _a("lddate", 151, 169)],
}
TABLE_ORDER = ("event", "origin", "origerr", "arrival", "assoc", "netmag", "stamag")
_DTYPE = {"operator assigned": "g", "constrained by depth phases": "d", "from location": "f"}
_DTYPE_INV = {"g": "operator assigned", "a": "operator assigned", "d": "constrained by depth phases",
              "f": "from location"}


def table_paths(path) -> dict[str, Path]:
    """``{table: file}`` for a directory or basename (a ``.<table>`` suffix is dropped)."""
    p = Path(path)
    if p.is_dir() or str(path).endswith(("/", "\\")):
        base = p / p.name
    elif p.suffix.lstrip(".") in TABLES:
        base = p.with_suffix("")
    else:
        base = p
    return {t: base.parent / f"{base.name}.{t}" for t in TABLES}


def _km(v):
    return None if v is None else v / 1e3


def _tail_id(rid, n: int):
    return str(rid).rstrip("/").split("/")[-1][:n] if rid is not None else None


def _jdate(t: UTCDateTime) -> int:
    return t.year * 1000 + t.julday


def _tail(x) -> str:
    return str(x.creation_info.author or x.creation_info.agency_id or "") if getattr(x, "creation_info", None) else ""


def write_css3(catalog: Catalog, path, author: str = "IDC", lddate: UTCDateTime | None = None) -> dict[str, Path]:
    """Write the seven tables; returns ``{table: file}``."""
    paths = table_paths(path)
    paths["origin"].parent.mkdir(parents=True, exist_ok=True)  # a directory path is created
    ci = catalog.creation_info
    ld = lddate or (ci.creation_time if ci is not None and ci.creation_time is not None else UTCDateTime())
    ld = ld.strftime("%Y-%m-%d %H:%M:%S")
    evids, orids, arids, magids = (Ids(9, numeric=True) for _ in range(4))
    rows: dict[str, list[dict]] = {t: [] for t in TABLES}
    for ev in catalog:
        pref = preferred_origin(ev)
        if pref is None:
            continue
        evid = int(evids.get(ev.resource_id))
        for o in ev.origins:
            orids.get(o.resource_id)
        rows["event"].append({"evid": evid, "evname": event_region(ev)[:32] or None,
                              "prefor": int(orids.get(pref.resource_id)), "auth": _tail(ev) or author,
                              "lddate": ld})
        for o in ev.origins:
            orid = int(orids.get(o.resource_id))
            q, ou = o.quality, o.origin_uncertainty
            mags = [m for m in ev.magnitudes if m.mag is not None and (
                m.origin_id == o.resource_id or (m.origin_id is None and o is pref))]
            ms = {}
            for m in mags:
                magid = int(magids.get(m.resource_id))
                ms.setdefault((m.magnitude_type or "").lower(), (m.mag, magid))
                rows["netmag"].append({"magid": magid, "orid": orid, "evid": evid, "magtype": m.magnitude_type,
                                       "nsta": m.station_count, "magnitude": m.mag,
                                       "uncertainty": m.mag_errors.uncertainty if m.mag_errors else None,
                                       "auth": _tail(m) or author, "lddate": ld})
            rs = arrival_rows(ev, o, unassociated=o is pref)
            rows["origin"].append({
                "lat": o.latitude, "lon": o.longitude, "depth": None if o.depth is None else o.depth / 1000.0,
                "time": o.time.timestamp, "orid": orid, "evid": evid, "jdate": _jdate(o.time),
                "nass": len(o.arrivals), "ndef": q.used_phase_count if q else None,
                "etype": ETYPE.get((ev.event_type, ev.event_type_certainty or "known")),
                "dtype": _DTYPE.get(o.depth_type or ""),
                "mb": ms.get("mb", (None, None))[0], "mbid": ms.get("mb", (None, None))[1],
                "ms": ms.get("ms", (None, None))[0], "msid": ms.get("ms", (None, None))[1],
                "ml": ms.get("ml", (None, None))[0], "mlid": ms.get("ml", (None, None))[1],
                "algorithm": _tail_id(o.method_id, 15),
                "auth": _tail(o) or author, "lddate": ld})
            rows["origerr"].append({
                "orid": orid, "sdobs": q.standard_error if q else None,
                "smajax": _km(ou.max_horizontal_uncertainty) if ou else None,
                "sminax": _km(ou.min_horizontal_uncertainty) if ou else None,
                "strike": ou.azimuth_max_horizontal_uncertainty if ou else None,
                "sdepth": _km(o.depth_errors.uncertainty) if o.depth_errors else None,
                "stime": o.time_errors.uncertainty if o.time_errors else None,
                "conf": (ou.confidence_level / 100.0) if ou and ou.confidence_level else None,
                "lddate": ld})
            for r in rs:
                p, a, arr = r.pick, r.amplitude, r.arrival
                arid = int(arids.get(p.resource_id))
                wid = p.waveform_id
                # one arrival row per pick; duplicates (a pick of several origins) dropped below
                rows["arrival"].append({
                    "sta": wid.station_code if wid else None, "time": p.time.timestamp, "arid": arid,
                    "jdate": _jdate(p.time), "chan": wid.channel_code if wid else None,
                    "iphase": p.phase_hint,
                    "deltim": p.time_errors.uncertainty if p.time_errors else None,
                    "azimuth": p.backazimuth,
                    "delaz": p.backazimuth_errors.uncertainty if p.backazimuth_errors else None,
                    "slow": p.horizontal_slowness,
                    "delslo": p.horizontal_slowness_errors.uncertainty if p.horizontal_slowness_errors else None,
                    "amp": a.generic_amplitude * 1e9 if a is not None else None,
                    "per": a.period if a is not None else None,
                    # fm: short-period then long-period first motion (c/d/.) [NNSA-KB]
                    "fm": {"positive": "c", "negative": "d"}.get(p.polarity or "", ".") + ".",
                    "snr": a.snr if a is not None else None,
                    "qual": {"impulsive": "i", "emergent": "e", "questionable": "w"}.get(p.onset or ""),
                    "auth": _tail(p) or author, "lddate": ld})
                if arr is not None:
                    rows["assoc"].append({
                        "arid": arid, "orid": orid, "sta": wid.station_code if wid else None,
                        "phase": arr.phase, "delta": arr.distance, "esaz": arr.azimuth,
                        "timeres": arr.time_residual, "timedef": "d" if (arr.time_weight or 0) > 0 else "n",
                        "azres": arr.backazimuth_residual, "azdef": "d" if (arr.backazimuth_weight or 0) > 0 else "n",
                        "slores": arr.horizontal_slowness_residual,
                        "slodef": "d" if (arr.horizontal_slowness_weight or 0) > 0 else "n",
                        "wgt": arr.time_weight,
                        "vmodel": _tail_id(arr.earth_model_id, 15),
                        "lddate": ld})
                for sm in r.stamags:
                    magid, res, used = None, None, None
                    for m in mags:
                        for c in m.station_magnitude_contributions:
                            if c.station_magnitude_id == sm.resource_id:
                                magid, res, used = int(magids.get(m.resource_id)), c.residual, c.weight
                    rows["stamag"].append({
                        "magid": magid, "ampid": arid, "sta": wid.station_code if wid else None, "arid": arid,
                        "orid": orid, "evid": evid, "phase": arr.phase if arr is not None else p.phase_hint,
                        "delta": arr.distance if arr is not None else None, "magtype": stamag_type(sm),
                        "magnitude": sm.mag, "uncertainty": sm.mag_errors.uncertainty if sm.mag_errors else None,
                        "magres": res, "magdef": None if used is None else ("d" if used > 0 else "n"),
                        "auth": _tail(sm) or author, "lddate": ld})
    seen = set()
    rows["arrival"] = [r for r in rows["arrival"] if not (r["arid"] in seen or seen.add(r["arid"]))]
    for t in TABLE_ORDER:
        with open(paths[t], "w", encoding="ascii", errors="replace", newline="\n") as fh:
            for r in rows[t]:
                fh.write(render(TABLES[t], r, f"{FMT} {t}", strip=False) + "\n")
    return paths


def _read_table(path: Path, table: str) -> list[dict]:
    if not path.is_file():
        if table in ("event", "origin"):
            raise FormatError(f"{path}: CSS3.0 {table} table missing")
        return []
    out = []
    width = max(c.last for c in TABLES[table])
    for n, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        if len(line.rstrip()) < width - 25:  # lddate may be short or absent
            raise FormatError(f"{path}:{n}: {table} line is {len(line.rstrip())} characters, "
                              f"CSS3.0 {table} rows are {width}")
        out.append(parse(TABLES[table], line, f"{path}:{n}"))
    return out


def read_css3(path, **kwargs) -> Catalog:
    """Read the seven tables (event and origin required) back into a Catalog.

    :raises FormatError: malformed row (``<file>:<line>: column …``) or missing table
    """
    paths = table_paths(path)
    t = {name: _read_table(p, name) for name, p in paths.items()}
    rid = lambda kind, i: ResourceIdentifier(f"{PREFIX}/{kind}/{i}")  # noqa: E731
    errs = {r["orid"]: r for r in t["origerr"]}
    arrivals = {r["arid"]: r for r in t["arrival"]}
    lddate = next((r["lddate"] for r in t["origin"] if r["lddate"]), None)
    cat = Catalog(resource_id=ResourceIdentifier(f"{PREFIX}/catalog"))
    if lddate:
        cat.creation_info = CreationInfo(creation_time=UTCDateTime(lddate))
    origins_by_ev: dict[int, list[dict]] = {}
    for r in t["origin"]:
        origins_by_ev.setdefault(r["evid"], []).append(r)
    for e in t["event"]:
        ev = Event(resource_id=rid("event", e["evid"]))
        if e["auth"]:
            ev.creation_info = CreationInfo(author=e["auth"])
        if e["evname"]:
            ev.event_descriptions.append(EventDescription(text=e["evname"], type="region name"))
        picks: dict[int, Pick] = {}
        amps: dict[int, Amplitude] = {}

        def pick_of(arid):
            if arid in picks or arid not in arrivals:
                return picks.get(arid)
            p, amp = _pick(arrivals[arid], rid)
            picks[arid] = p
            ev.picks.append(p)
            if amp is not None:
                amps[arid] = amp
                ev.amplitudes.append(amp)
            return p

        for o in origins_by_ev.get(e["evid"], []):
            orid = o["orid"]
            org = Origin(resource_id=rid("origin", orid), time=UTCDateTime(o["time"]), latitude=o["lat"],
                         longitude=o["lon"], depth=None if o["depth"] is None else o["depth"] * 1000.0,
                         depth_type=_DTYPE_INV.get(o["dtype"] or ""),
                         creation_info=CreationInfo(author=o["auth"]) if o["auth"] else None)
            if o["algorithm"]:
                org.method_id = ResourceIdentifier(f"{PREFIX}/method/{o['algorithm']}")
            if o["etype"] in ETYPE_INV:
                ev.event_type, ev.event_type_certainty = ETYPE_INV[o["etype"]]
            er = errs.get(orid)
            org.quality = OriginQuality(used_phase_count=o["ndef"], associated_phase_count=o["nass"],
                                        standard_error=er["sdobs"] if er else None)
            if er:
                if er["stime"] is not None:
                    org.time_errors = QuantityError(uncertainty=er["stime"])
                if er["sdepth"] is not None:
                    org.depth_errors = QuantityError(uncertainty=er["sdepth"] * 1e3)
                if er["smajax"] is not None:
                    org.origin_uncertainty = OriginUncertainty(
                        max_horizontal_uncertainty=er["smajax"] * 1e3,
                        min_horizontal_uncertainty=None if er["sminax"] is None else er["sminax"] * 1e3,
                        azimuth_max_horizontal_uncertainty=er["strike"],
                        confidence_level=None if er["conf"] is None else round(er["conf"] * 100, 3),
                        preferred_description="uncertainty ellipse")
            for a in t["assoc"]:
                if a["orid"] != orid:
                    continue
                p = pick_of(a["arid"])
                if p is None:
                    raise FormatError(f"{paths['assoc']}: assoc arid {a['arid']} (orid {orid}) has no arrival row")
                org.arrivals.append(Arrival(
                    resource_id=rid("arrival", f"{orid}/{a['arid']}"), pick_id=p.resource_id, phase=a["phase"],
                    distance=a["delta"], azimuth=a["esaz"], time_residual=a["timeres"],
                    backazimuth_residual=a["azres"], horizontal_slowness_residual=a["slores"],
                    time_weight=a["wgt"] if a["wgt"] is not None else (1.0 if a["timedef"] == "d" else None),
                    backazimuth_weight=1.0 if a["azdef"] == "d" else None,
                    horizontal_slowness_weight=1.0 if a["slodef"] == "d" else None,
                    earth_model_id=ResourceIdentifier(f"{PREFIX}/vmodel/{a['vmodel']}") if a["vmodel"] else None))
            ev.origins.append(org)
            if orid == e["prefor"]:
                ev.preferred_origin_id = org.resource_id
            mags = {}
            for m in t["netmag"]:
                if m["orid"] != orid:
                    continue
                mag = Magnitude(resource_id=rid("magnitude", m["magid"]), mag=m["magnitude"],
                                magnitude_type=m["magtype"], station_count=m["nsta"], origin_id=org.resource_id,
                                creation_info=CreationInfo(author=m["auth"]) if m["auth"] else None)
                if m["uncertainty"] is not None:
                    mag.mag_errors = QuantityError(uncertainty=m["uncertainty"])
                mags[m["magid"]] = mag
                ev.magnitudes.append(mag)
            for s in t["stamag"]:
                if s["orid"] != orid:
                    continue
                p = pick_of(s["arid"])
                sm = StationMagnitude(resource_id=rid("stamag", f"{orid}/{s['arid']}/{s['magtype']}"),
                                      mag=s["magnitude"], station_magnitude_type=s["magtype"],
                                      origin_id=org.resource_id,
                                      amplitude_id=amps[s["ampid"]].resource_id if s["ampid"] in amps else None,
                                      waveform_id=WaveformStreamID(station_code=s["sta"] or ""),
                                      creation_info=CreationInfo(author=s["auth"]) if s["auth"] else None)
                if s["uncertainty"] is not None:
                    sm.mag_errors = QuantityError(uncertainty=s["uncertainty"])
                ev.station_magnitudes.append(sm)
                if s["magid"] in mags:
                    mags[s["magid"]].station_magnitude_contributions.append(StationMagnitudeContribution(
                        station_magnitude_id=sm.resource_id, residual=s["magres"],
                        weight=None if s["magdef"] is None else (1.0 if s["magdef"] == "d" else 0.0)))
        cat.append(ev)
    # arrival rows no assoc refers to: picks of the event whose preferred origin is closest in time
    assoc_arids = {a["arid"] for a in t["assoc"]} | {s["arid"] for s in t["stamag"]}
    for a in t["arrival"]:
        if a["arid"] in assoc_arids or not len(cat):
            continue
        ev = min(cat, key=lambda e: abs((e.preferred_origin() or e.origins[0]).time - a["time"])
                 if e.origins else math.inf)
        p, amp = _pick(a, rid)
        ev.picks.append(p)
        if amp is not None:
            ev.amplitudes.append(amp)
    return cat


def _pick(a: dict, rid) -> tuple[Pick, Amplitude | None]:
    """Pick (and its amplitude) from an arrival row."""
    arid = a["arid"]
    wid = WaveformStreamID(station_code=a["sta"] or "", channel_code=a["chan"])
    fm = (a["fm"] or "..").ljust(2, ".")
    p = Pick(resource_id=rid("pick", arid), time=UTCDateTime(a["time"]), waveform_id=wid,
             phase_hint=a["iphase"], backazimuth=a["azimuth"], horizontal_slowness=a["slow"],
             polarity={"c": "positive", "d": "negative"}.get(fm[0]),
             onset={"i": "impulsive", "e": "emergent", "w": "questionable"}.get(a["qual"] or ""),
             creation_info=CreationInfo(author=a["auth"]) if a["auth"] else None)
    p.time_errors = QuantityError(uncertainty=a["deltim"]) if a["deltim"] is not None else None
    p.backazimuth_errors = QuantityError(uncertainty=a["delaz"]) if a["delaz"] is not None else None
    p.horizontal_slowness_errors = QuantityError(uncertainty=a["delslo"]) if a["delslo"] is not None else None
    amp = None
    if a["amp"] is not None:
        amp = Amplitude(resource_id=rid("amplitude", arid), generic_amplitude=a["amp"] * 1e-9, unit="m",
                        type="A5/2", period=a["per"], snr=a["snr"], pick_id=p.resource_id,
                        waveform_id=WaveformStreamID(station_code=a["sta"] or ""))
    return p, amp


def write_path(catalog: Catalog, path, **kwargs) -> None:
    write_css3(catalog, path, **kwargs)

