"""Station metadata: read StationXML and station tables into an obspy ``Inventory``.

Everything goes through obspy's Inventory model so that later stages (response removal,
distances, FDSN station service) have one representation. Supported inputs:

* StationXML (any file obspy's ``read_inventory`` reads: StationXML, SEED RESP, SC3ML, ...);
* station CSV ``station,latitude,longitude,elevation_m`` with optional ``network``, ``location``,
  ``channel`` (one row per channel) or ``channels`` (space/semicolon separated),
  ``sample_rate``, ``site_name``, ``start``, ``end`` columns (the ``idc associate`` contract);
* QuakeMigrate station files ``Latitude,Longitude,Elevation,Name`` (elevation in km);
* the IMS station table (``treaty_id,code,technology,kind,...``; network ``IM``, rows without a
  code or coordinates are skipped and counted).

Checked per row: latitude −90…90°, longitude −180…360°, elevation within
:data:`ELEVATION_RANGE_M` (−12 km … +9 km: the deepest ocean-bottom sensors, Challenger Deep
≈ −10.9 km, to the highest summits, ≈ 8.8 km), numbers and times readable, a station code. A bad
row is refused with :class:`StationFileError` naming file, line and field (``strict=True``, the
default of the functions), or skipped and reported in :attr:`StationTable.rejected` with the same
message while the other rows are read (``strict=False``, what ``idc stations load`` does unless
``--strict``): one bad row of a 30,000-row table does not keep the rest out.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from obspy import Inventory, UTCDateTime, read_inventory
from obspy.core.inventory import Channel, Network, Site, Station

from pipeline.errors import BAD_VALUE, InputError

#: start date given to stations whose metadata has none
OPEN_START = UTCDateTime(1970, 1, 1)

#: marker put in the description of channels whose response is a documented placeholder
PLACEHOLDER_MARK = "PLACEHOLDER RESPONSE"

#: plausible station elevation, metres (below: deeper than any ocean floor; above: higher than any
#: summit); a value outside is a unit or typing error (km for m, a missing decimal point)
ELEVATION_RANGE_M = (-12_000.0, 9_000.0)


class StationFileError(InputError):
    """A station file cannot be read; the message names file, line and field."""


@dataclass
class StationTable:
    """Result of reading one station file."""

    inventory: Inventory
    source: Path
    #: rows left out by design (IMS table rows of planned stations without code or coordinates)
    skipped: list[str] = field(default_factory=list)
    #: bad rows left out (``strict=False``): one message each, naming file, line and field
    rejected: list[str] = field(default_factory=list)


def _orientation(chan: str) -> tuple[float, float]:
    """(azimuth, dip) for a channel code from its last letter (SEED convention)."""
    comp = chan[-1:].upper()
    return {"Z": (0.0, -90.0), "N": (0.0, 0.0), "1": (0.0, 0.0), "E": (90.0, 0.0),
            "2": (90.0, 0.0)}.get(comp, (0.0, 0.0))


def _float(row: dict, key: str, path: Path, lineno: int, default: float | None = None) -> float:
    raw = (row.get(key) or "").strip()
    if raw == "":
        if default is not None:
            return default
        raise StationFileError(f"{path}: line {lineno}: field '{key}' is empty")
    try:
        return float(raw)
    except ValueError:
        raise StationFileError(f"{path}: line {lineno}: field '{key}' is not a number: {raw!r}") from None


def _check_coords(lat: float, lon: float, path: Path, lineno: int) -> None:
    if not -90 <= lat <= 90:
        raise StationFileError(f"{path}: line {lineno}: field 'latitude' out of range: {lat} (-90..90)")
    if not -180 <= lon <= 360:
        raise StationFileError(f"{path}: line {lineno}: field 'longitude' out of range: {lon} (-180..360)")


def _check_elevation(elev_m: float, key: str, path: Path, lineno: int, km: bool = False) -> None:
    lo, hi = ELEVATION_RANGE_M
    if not lo <= elev_m <= hi:
        shown = f"{elev_m / 1000:g} km ({lo / 1000:g}..{hi / 1000:g} km)" if km else f"{elev_m:g} m ({lo:g}..{hi:g} m)"
        raise StationFileError(f"{path}: line {lineno}: field '{key}' out of range: {shown}")


def _time(row: dict, key: str, path: Path, lineno: int) -> UTCDateTime | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        return None
    try:
        return UTCDateTime(raw)
    except BAD_VALUE:
        raise StationFileError(f"{path}: line {lineno}: field '{key}' is not a time: {raw!r}") from None


def _sniff_kind(header: list[str]) -> str:
    low = [h.strip().lower() for h in header]
    if "treaty_id" in low and "code" in low:
        return "ims"
    if {"latitude", "longitude", "elevation", "name"} <= set(low) and "station" not in low:
        return "quakemigrate"
    if {"station", "latitude", "longitude"} <= set(low):
        return "stations"
    raise StationFileError(
        "unrecognised station CSV header: expected 'station,latitude,longitude,elevation_m[,network,...]', "
        f"QuakeMigrate 'Latitude,Longitude,Elevation,Name' or the IMS table; got {','.join(header)}")


def _row(kind: str, row: dict, path: Path, lineno: int, default_network: str, skipped: list[str]):
    """One CSV row → ``(net, sta, lat, lon, elev_m, site_name, description, channels, start, end,
    location, sample_rate)``, or None for an IMS row without code/coordinates (added to ``skipped``).
    :raises StationFileError: naming file, line and field."""
    if kind == "ims":
        code = row.get("code", "").strip()
        if not code or not row.get("latitude", "").strip():
            skipped.append(f"line {lineno} ({row.get('treaty_id', '?')}): no code or coordinates")
            return None
        net, sta = "IM", code.split(";")[0].strip()
        lat = _float(row, "latitude", path, lineno)
        lon = _float(row, "longitude", path, lineno)
        elev_m = _float(row, "elevation_m", path, lineno, default=0.0)
        _check_elevation(elev_m, "elevation_m", path, lineno)
        site_name = ", ".join(x for x in (row.get("location", "").strip(), row.get("state", "").strip()) if x)
        desc = f"{row.get('treaty_id', '')} {row.get('technology', '')} {row.get('kind', '')}".strip()
        chans: list[str] = []
    elif kind == "quakemigrate":
        net, sta = default_network, row["name"].strip()
        lat = _float(row, "latitude", path, lineno)
        lon = _float(row, "longitude", path, lineno)
        elev_m = 1000.0 * _float(row, "elevation", path, lineno, default=0.0)
        _check_elevation(elev_m, "elevation", path, lineno, km=True)
        site_name, desc, chans = sta, "", []
    else:
        sta = row.get("station", "").strip()
        if not sta:
            raise StationFileError(f"{path}: line {lineno}: field 'station' is empty")
        net = (row.get("network") or "").strip() or default_network
        lat = _float(row, "latitude", path, lineno)
        lon = _float(row, "longitude", path, lineno)
        elev_m = _float(row, "elevation_m", path, lineno, default=0.0)
        _check_elevation(elev_m, "elevation_m", path, lineno)
        site_name = (row.get("site_name") or "").strip() or sta
        desc = ""
        chans = [c for c in (row.get("channel") or "").replace(";", " ").split() if c]
        chans += [c for c in (row.get("channels") or "").replace(";", " ").split() if c]
    _check_coords(lat, lon, path, lineno)
    start = _time(row, "start", path, lineno) or OPEN_START
    end = _time(row, "end", path, lineno)
    loc = (row.get("location") or "").strip()
    if loc == "--":
        loc = ""
    rate = _float(row, "sample_rate", path, lineno) if (row.get("sample_rate") or "").strip() else None
    return net, sta, lat, lon, elev_m, site_name, desc, chans, start, end, loc, rate


def read_station_csv(path: str | Path, default_network: str = "XX", strict: bool = True) -> StationTable:
    """Read a station CSV (any of the layouts in the module docstring) into an Inventory.

    :param strict: refuse the file at its first bad row (:class:`StationFileError`); ``False``:
        skip bad rows, one message each in :attr:`StationTable.rejected`.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise StationFileError(f"{path}: empty station file")
        try:
            kind = _sniff_kind(reader.fieldnames)
        except StationFileError as exc:
            raise StationFileError(f"{path}: {exc}") from None
        # (line number of the row's end, as csv counts it: blank lines and quoted newlines included)
        rows = [({(k or "").strip().lower(): (v or "") for k, v in r.items()}, reader.line_num) for r in reader]
    networks: dict[str, Network] = {}
    stations: dict[tuple[str, str], Station] = {}
    skipped: list[str] = []
    rejected: list[str] = []
    for row, lineno in rows:
        try:
            parsed = _row(kind, row, path, lineno, default_network, skipped)
        except StationFileError as exc:
            if strict:
                raise
            rejected.append(f"{exc}; row skipped")
            continue
        if parsed is None:
            continue
        net, sta, lat, lon, elev_m, site_name, desc, chans, start, end, loc, rate = parsed
        key = (net, sta)
        station = stations.get(key)
        if station is None:
            station = Station(code=sta, latitude=lat, longitude=lon, elevation=elev_m,
                              site=Site(name=site_name), start_date=start, end_date=end,
                              description=desc or None)
            stations[key] = station
            networks.setdefault(net, Network(code=net, stations=[])).stations.append(station)
        for chan in chans:
            az, dip = _orientation(chan)
            station.channels.append(Channel(code=chan, location_code=loc, latitude=lat, longitude=lon,
                                            elevation=elev_m, depth=0.0, azimuth=az, dip=dip,
                                            sample_rate=rate, start_date=start, end_date=end))
    inv = Inventory(networks=list(networks.values()), source=f"idc-pipeline from {path.name}")
    return StationTable(inventory=inv, source=path, skipped=skipped, rejected=rejected)


def read_station_file(path: str | Path, default_network: str = "XX", strict: bool = True) -> StationTable:
    """Read one station file (StationXML or CSV, by content); ``strict``: see :func:`read_station_csv`."""
    path = Path(path)
    if not path.is_file():
        raise StationFileError(f"{path}: no such station file")
    head = path.read_bytes()[:512].lstrip()
    if path.suffix.lower() == ".csv" or (head[:1] not in (b"<",) and b"," in head.split(b"\n")[0]):
        return read_station_csv(path, default_network=default_network, strict=strict)
    try:
        inv = read_inventory(str(path))
    except Exception as exc:  # obspy raises TypeError/ValueError/XMLSyntaxError/...: re-raised naming the file
        raise StationFileError(f"{path}: not a station file obspy can read ({type(exc).__name__}: {exc})") from None
    return StationTable(inventory=inv, source=path)


def iter_station_files(paths: list[Path]) -> list[Path]:
    """Expand folders into their *.xml / *.csv files (sorted); files are kept as given."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in (".xml", ".csv"))
        else:
            out.append(p)
    return out


def has_placeholder_response(channel: Channel) -> bool:
    return PLACEHOLDER_MARK in (channel.description or "")
