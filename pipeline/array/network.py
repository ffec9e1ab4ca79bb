"""Station processing of a network with arrays: the 3-C stations one by one, every array as one
station (the IDC way), in one parallel run.

:func:`detect_network` splits the stream by station metadata
(:func:`pipeline.stations.arrays.array_elements`: ``[array] elements`` of the configuration, or a
StationXML station described as ``element of array CODE``):

* the channels of single stations go through :mod:`pipeline.detection` unchanged (its
  ``(station, chunk)`` tasks, :func:`pipeline.detection.detect_tasks`);
* the elements of each array are gathered and processed together by
  :func:`pipeline.array.detect_array` (beams, STA/LTA on the beams, f-k per detection) in
  chunks of ``chunk_s`` with ``pad_s`` of padding on both sides (onsets kept inside the chunk
  only, as for the 3-C stations), giving one detection per arrival under the array code with
  backazimuth, slowness (s/deg), their uncertainties, technology, fstat, semblance and relpow.

Both kinds of task run in one :func:`pipeline.detection.compute_tasks` call (dask threads or a
``distributed.Client``). An array whose metadata or data cannot be used (an element without
coordinates, fewer than 3 elements, mixed sampling rates) is left out with one line naming it
in :attr:`NetworkDetections.errors`; the other stations and arrays go on. Its elements are *not*
processed as single stations instead (single vertical elements would give a false detection per
element and arrival).

Output: one picks table (:mod:`pipeline.picks` columns, plus :data:`~pipeline.picks.ARRAY_COLUMNS`
when arrays were processed: ``technology`` is ``seismic`` on the 3-C rows too) and the arrays
as sites (code at the reference point), which the associator's station table needs.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd
from obspy import Inventory, Stream, UTCDateTime

from pipeline.array.config import ArrayConfig, AutoArray
from pipeline.array.detector import array_table, detect_array
from pipeline.detection import (AutoDetection, DetectionConfig, chunk_intervals, compute_tasks, data_spans,
                                detect_tasks, station_rows)
from pipeline.errors import IdcError
from pipeline.picks import ARRAY_COLUMNS, PICK_COLUMNS, empty_picks, normalise_picks
from pipeline.stations.arrays import array_elements

#: columns of :attr:`NetworkDetections.arrays`
SITE_COLUMNS = ("network", "station", "latitude", "longitude", "elevation_m", "reference", "elements",
                "aperture_km", "sampling_rate")


@dataclass
class NetworkDetections:
    """Result of :func:`detect_network`.

    :ivar picks: the detections (picks DataFrame; array rows under the array code)
    :ivar arrays: one row per processed array (:data:`SITE_COLUMNS`: the array code at its
        reference point, its elements and aperture, km)
    :ivar errors: one line per array left out, naming it (and the element at fault)
    :ivar members: ``(network, element station) -> array code`` of the elements found in the data
    """

    picks: pd.DataFrame
    arrays: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SITE_COLUMNS)))
    errors: list[str] = field(default_factory=list)
    members: dict = field(default_factory=dict)


def _array_task(stream: Stream, inventory: Inventory | None, config, code: str, start, end) -> dict:
    """One array, one chunk: ``{"rows": [...], "site": {...}}`` or ``{"error": one line}``."""
    try:
        if inventory is None:
            raise IdcError("no station metadata for its elements")
        df = detect_array(stream, inventory, config, code=code, start=start, end=end)
    except (IdcError, ValueError) as exc:
        msg = str(exc)
        return {"error": msg if msg.startswith(f"array {code}") else f"array {code}: {msg}"}
    return {"rows": df.to_dict("records"), "site": df.attrs.get("array")}


def array_tasks(stream: Stream, inventory: Inventory | None, members: Mapping[tuple[str, str], str],
                config: ArrayConfig | AutoArray, start: UTCDateTime | None = None, end: UTCDateTime | None = None,
                chunk_s: float | None = 3600.0, pad_s: float | None = None) -> list[tuple[str, object, tuple]]:
    """The (array, chunk) tasks ``(key, function, args)`` of :func:`detect_network`.

    :param members: ``(network, station) -> array code`` of the element stations in ``stream``
    :param pad_s: data before and after each chunk, s (default: the configuration's
        ``pad_s`` plus the f-k window)
    """
    if pad_s is None:
        base = ArrayConfig(**config.overrides) if isinstance(config, AutoArray) else config
        pad_s = base.pad_s + max(abs(base.fk_window_s[0]), abs(base.fk_window_s[1]))
    lo = UTCDateTime(start) if start is not None else None
    hi = UTCDateTime(end) if end is not None else None
    by_array: dict[str, Stream] = defaultdict(Stream)
    for tr in stream:
        code = members.get((tr.stats.network, tr.stats.station))
        if code:
            by_array[code].append(tr)
    out = []
    for code, st in sorted(by_array.items()):
        stations = sorted({(tr.stats.network, tr.stats.station) for tr in st})
        inv = None
        if inventory is not None:
            inv = Inventory(networks=[], source=inventory.source)
            for net, sta in stations:
                inv += inventory.select(network=net, station=sta)
            if not len(inv.networks):
                inv = None
        c = 0
        for s0, s1 in data_spans(st, join_s=2.0 * pad_s):
            s1 = s1 + 1e-6
            s0, s1 = (max(s0, lo) if lo is not None else s0), (min(s1, hi) if hi is not None else s1)
            if s1 <= s0:
                continue
            for c0, c1 in chunk_intervals(s0, s1, chunk_s):
                sub = st.slice(c0 - pad_s, c1 + pad_s)
                if len(sub):
                    out.append((f"detect-array-{code}-{c}", _array_task, (sub, inv, config, code, c0, c1)))
                    c += 1
    return out


def detect_network(stream: Stream, inventory: Inventory | None = None,
                   config: DetectionConfig | AutoDetection | None = None,
                   array_config: ArrayConfig | AutoArray | None = None,
                   elements: Mapping[str, Sequence[str]] | None = None, arrays: bool = True,
                   start: UTCDateTime | None = None, end: UTCDateTime | None = None,
                   chunk_s: float | None = 3600.0, client=None, num_workers: int | None = None,
                   progress=None) -> NetworkDetections:
    """Station processing of ``stream``: 3-C stations by :mod:`pipeline.detection`, arrays as one
    station each by :func:`pipeline.array.detect_array` (see the module doc).

    :param config: detection configuration of the single stations (default ``AutoDetection()``)
    :param array_config: array configuration (default :class:`AutoArray`: from each array's
        sampling rate and aperture)
    :param elements: ``[array] elements`` (array code -> element station codes / patterns)
    :param arrays: False: every station as a single station (array processing off)
    :param start: / :param end: onsets reported, UTCDateTime
    :param chunk_s: array data processed per task, s (None = one task per array and data span)
    :param client: / :param num_workers: / :param progress: see :func:`pipeline.detection.detect`
    """
    config = config or AutoDetection()
    array_config = array_config or AutoArray()
    present = {(tr.stats.network, tr.stats.station) for tr in stream}
    members = array_elements(inventory, elements, present) if arrays else {}
    singles = Stream([tr for tr in stream if (tr.stats.network, tr.stats.station) not in members])
    tasks = [(key, station_rows, args) for key, args in detect_tasks(singles, inventory, config, start, end)]
    tasks += array_tasks(stream, inventory, members, array_config, start, end, chunk_s)
    results = compute_tasks(tasks, client, num_workers, progress)
    rows, array_rows, sites, errors = [], [], {}, []
    for (key, fn, _), res in zip(tasks, results):
        if fn is station_rows:
            rows += res
        elif "error" in res:
            if res["error"] not in errors:
                errors.append(res["error"])
        else:
            array_rows += res["rows"]
            if res["site"]:
                sites.setdefault(res["site"]["station"], res["site"])
    if not members:
        picks = normalise_picks(pd.DataFrame(rows, columns=list(PICK_COLUMNS))) if rows else empty_picks()
        return NetworkDetections(picks, errors=errors)
    for r in rows:
        r["technology"] = "seismic"
    both = [*rows, *array_rows]
    picks = array_table(pd.DataFrame(both, columns=[*PICK_COLUMNS, *ARRAY_COLUMNS])) if both else array_table(
        pd.DataFrame())
    site_df = pd.DataFrame([sites[k] for k in sorted(sites)], columns=list(SITE_COLUMNS))
    return NetworkDetections(picks, site_df, errors, members)


def with_array_sites(stations: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """A station table (:data:`pipeline.picks.STATION_COLUMNS`) with the arrays of ``sites``
    (:attr:`NetworkDetections.arrays`) added at their reference points, where the table does not
    hold the array code already."""
    if sites is None or not len(sites):
        return stations
    have = set(zip(stations.get("network", pd.Series([""] * len(stations))).fillna(""), stations["station"]))
    codes = set(stations["station"])
    new = sites[[not ((n, s) in have or s in codes) for n, s in zip(sites["network"], sites["station"])]]
    if not len(new):
        return stations
    add = new[["network", "station", "latitude", "longitude", "elevation_m"]]
    return pd.concat([stations, add], ignore_index=True)
