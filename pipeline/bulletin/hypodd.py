"""HypoDD phase files (``*.pha``) → catalogue and absolute-time picks tables.

Format (HypoDD user guide): event lines ``# yr mo dy hr mn sc lat lon dep mag eh ez rms id``,
then phase lines ``sta tt wght pha`` with ``tt`` the travel time in s after the origin time.
NCSN codes carry the network in the first two characters (``NCCCO`` = NC.CCO).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from obspy import UTCDateTime

from pipeline.picks import TableError, normalise_picks


def split_code(code: str, network_chars: int = 2) -> tuple[str, str]:
    return code[:network_chars], code[network_chars:]


def read_hypodd_pha(path: str | Path, network_chars: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a HypoDD phase file.

    :returns: ``(catalogue, picks)``: catalogue columns ``event_id, time (epoch s), latitude,
        longitude, depth_km, magnitude``; picks in the :mod:`pipeline.picks` schema with absolute
        times (origin + travel time) and ``pick_id`` = ``<event_id>:<n>``.
    """
    path = Path(path)
    events, rows = [], []
    cur, n = None, 0

    def phase_line(parts):
        nonlocal cur, n
        if parts[0] == "#":
            yr, mo, dy, hr, mn = (int(x) for x in parts[1:6])
            sec = float(parts[6])
            t = UTCDateTime(yr, mo, dy, hr, mn) + sec
            cur = dict(event_id=parts[14], time=float(t.timestamp), latitude=float(parts[7]),
                       longitude=float(parts[8]), depth_km=float(parts[9]), magnitude=float(parts[10]))
            events.append(cur)
            n = 0
        else:
            if cur is None:
                raise ValueError("phase line before the first event line")
            net, sta = split_code(parts[0], network_chars)
            n += 1
            rows.append(dict(network=net, station=sta, phase=parts[3], time=cur["time"] + float(parts[1]),
                             pick_id=f"{cur['event_id']}:{n}", event_id=cur["event_id"]))

    _each_line(path, "HypoDD phase line", phase_line)
    cat = pd.DataFrame(events)
    picks = pd.DataFrame(rows)
    truth = picks[["pick_id", "event_id"]]
    picks = normalise_picks(picks.drop(columns=["event_id"]), str(path))
    picks = picks.merge(truth, on="pick_id", how="left")
    return cat, picks


def read_hypodd_stations(path: str | Path, network_chars: int = 2) -> pd.DataFrame:
    """``station.dat`` (``CODE lat lon [elev_m]``) → stations DataFrame."""
    rows = []

    def station_line(parts):
        net, sta = split_code(parts[0], network_chars)
        rows.append(dict(network=net, station=sta, latitude=float(parts[1]), longitude=float(parts[2]),
                         elevation_m=float(parts[3]) if len(parts) > 3 else 0.0))

    _each_line(path, "station line", station_line)
    return pd.DataFrame(rows).drop_duplicates(["network", "station"], keep="last").reset_index(drop=True)


def _each_line(path, what: str, parse) -> None:
    """``parse(fields)`` for every non-blank line of ``path``; a ValueError or IndexError it
    raises becomes a :class:`TableError` naming the file and line (``not a <what>``)."""
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                parse(parts)
            except (ValueError, IndexError) as exc:
                raise TableError(f"{path}: line {lineno}: not a {what} ({exc})") from None
