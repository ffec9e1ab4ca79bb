"""Which stations are elements of an array: station metadata (+ configuration) -> array code.

An IMS array arrives as its elements, each an ordinary station of the StationXML (ARCES:
``IM.ARA0``, ``IM.ARA1``, ... ``IM.ARD9``; ``idc simulate waveforms``: ``WRA00`` ... ``WRA08``).
The automatic chain processes the elements of one array together, as one station under the
array code (:mod:`pipeline.array`), as the IDC does. A station is an element of array ``CODE``
when, in this order:

1. the configuration says so: ``[array] elements`` maps an array code to element station codes
   or ``fnmatch`` patterns (``{ARCES = ["AR[A-E][0-9]"], FINES = ["FI*"]}``; a pattern with a dot
   is matched against ``NET.STA``). This is for metadata that does not say (e.g. a StationXML of
   the IMS elements from an FDSN service), and it also names elements the metadata lacks (they
   then fail with "no coordinates");
2. its StationXML ``Station`` description (or its ``Site`` description) reads
   ``element of array CODE`` - what ``idc simulate waveforms`` writes; the IDC's CSS3.0 site
   table says the same with ``refsta`` = CODE and ``statype = ar``.

Every other station is a single (3-C) station. Nothing here guesses from code prefixes: ``FIA0``
and ``FIN`` could be anything.
"""
from __future__ import annotations

import fnmatch
import math
import re
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from obspy import Inventory

#: the element statement of a station description (case-insensitive): the array code follows
ELEMENT_DESCRIPTION = re.compile(r"\belement of (?:the )?array\s+([A-Za-z0-9]{1,8})\b", re.IGNORECASE)


def described_array(station) -> str | None:
    """The array code an obspy ``Station`` declares itself an element of (rule 2), else None."""
    texts = [station.description, station.site.description if station.site is not None else None]
    for text in texts:
        m = ELEMENT_DESCRIPTION.search(text or "")
        if m:
            return m.group(1).upper()
    return None


def _configured(net: str, sta: str, elements: Mapping[str, Sequence[str]]) -> str | None:
    for code, patterns in elements.items():
        for p in patterns:
            if fnmatch.fnmatchcase(f"{net}.{sta}" if "." in p else sta, p):
                return code
    return None


def array_elements(inventory: Inventory | None, elements: Mapping[str, Sequence[str]] | None = None,
                   stations: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], str]:
    """``(network, station) -> array code`` for every array element (rules in the module doc).

    :param inventory: station metadata (None: only the configured ``elements`` apply)
    :param elements: ``[array] elements``: array code -> element station codes / patterns
    :param stations: the ``(network, station)`` pairs to classify (e.g. those of the data);
        default: every station of ``inventory``
    """
    elements = dict(elements or {})
    described: dict[tuple[str, str], str] = {}
    if inventory is not None:
        for net in inventory:
            for sta in net:
                code = described_array(sta)
                if code:
                    described[(net.code, sta.code)] = code
    keys = set(stations) if stations is not None else {(n.code, s.code) for n in inventory or [] for s in n}
    out = {}
    for net, sta in keys:
        code = _configured(net, sta, elements) or described.get((net, sta))
        if code:
            out[(net, sta)] = code
    return out


def arrays_of(members: Mapping[tuple[str, str], str]) -> dict[str, list[tuple[str, str]]]:
    """The inverse of :func:`array_elements`: array code -> its element ``(network, station)``
    pairs, sorted."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, code in members.items():
        out[code].append(key)
    return {k: sorted(v) for k, v in sorted(out.items())}


#: km per degree of latitude on the 6371 km sphere
_KM_PER_DEG = 6371.0 * math.pi / 180.0


def reference_index(codes: Sequence[str], east_km, north_km) -> int | None:
    """The reference element of an array: the element nearest the elements' centre (offsets
    ``east_km``/``north_km`` from it) when its station code ends in ``0`` (the IMS convention:
    ``ARA0``, ``FIA0``, ``SPA0``; the simulator's ``WRA00``), else None (the centre itself)."""
    k = int(np.argmin(np.hypot(np.asarray(east_km, float), np.asarray(north_km, float))))
    return k if str(codes[k]).endswith("0") else None


def array_sites(stations: pd.DataFrame, members: Mapping[tuple[str, str], str]) -> pd.DataFrame:
    """The arrays as sites: one row per array code of ``members`` (columns of ``stations``:
    network, station = the array code, latitude, longitude, elevation_m) at its reference point
    (:func:`reference_index`; the elements' mean position when no element is the reference),
    from the element rows of the station table ``stations`` (elements without a row are left out)."""
    cols = ["network", "station", "latitude", "longitude", "elevation_m"]
    nets = stations["network"].fillna("") if "network" in stations.columns else pd.Series([""] * len(stations))
    rows = []
    for code, keys in arrays_of(members).items():
        mask = np.array([(n, s) in set(keys) for n, s in zip(nets, stations["station"])], dtype=bool)
        el = stations[mask].drop_duplicates(["station"], keep="last")
        if not len(el):
            continue
        lat, lon = el["latitude"].to_numpy(float), el["longitude"].to_numpy(float)
        clat, clon = lat.mean(), lon.mean()
        east = (lon - clon) * _KM_PER_DEG * math.cos(math.radians(clat))
        north = (lat - clat) * _KM_PER_DEG
        k = reference_index(el["station"].tolist(), east, north)
        elev = el["elevation_m"].to_numpy(float) if "elevation_m" in el.columns else np.zeros(len(el))
        if k is None:
            rows.append((keys[0][0], code, float(clat), float(clon), float(np.nanmean(elev))))
        else:
            rows.append((keys[0][0], code, float(lat[k]), float(lon[k]), float(elev[k])))
    return pd.DataFrame(rows, columns=cols)
