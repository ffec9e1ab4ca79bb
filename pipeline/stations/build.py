"""Build StationXML from a station table, with a documented placeholder response.

Used to make ``stations/Z7.xml`` (Iceland demo network) reproducibly::

    idc stations build-xml demo/data/iceland/inputs/iceland_stations.txt --network Z7 \
        --channels HHZ,HHN,HHE --sample-rate 100 --start 2014-08-01 --end 2014-10-01 \
        --gain 2.9e9 -o stations/Z7.xml

The real Z7 response (a dataless SEED fetched by QuakeMigrate's example from the IRIS DMC) is not
available offline. The placeholder is a flat-velocity broadband sensor (two zeros at 0, a
complex pole pair at 30 s, the usual Güralp response) with one overall gain. For Z7 the gain
2.9e9 counts/(m/s) was *derived* from QuakeMigrate's own Wood–Anderson amplitudes of the
demo events (median ratio over 312 S amplitudes, 16–84 % range 2.5e9–3.5e9; i.e. magnitudes
from this placeholder carry about ±0.07 extra uncertainty). Every such channel carries
:data:`PLACEHOLDER_MARK` in its description and a comment.
"""
from __future__ import annotations

from pathlib import Path

from obspy import Inventory, UTCDateTime
from obspy.core.inventory import Channel, Comment, Response

from pipeline.stations.inventory import PLACEHOLDER_MARK, _orientation, read_station_csv

#: flat-velocity broadband sensor, corner 30 s (rad/s)
BROADBAND_30S_POLES = (complex(-0.1480, 0.1480), complex(-0.1480, -0.1480))
BROADBAND_30S_ZEROS = (0j, 0j)


def placeholder_response(gain_counts_per_m_s: float, frequency_hz: float = 1.0) -> Response:
    """Single-stage PAZ response, velocity input (M/S) to COUNTS, normalised at ``frequency_hz``."""
    resp = Response.from_paz(zeros=list(BROADBAND_30S_ZEROS), poles=list(BROADBAND_30S_POLES),
                             stage_gain=gain_counts_per_m_s, stage_gain_frequency=frequency_hz,
                             input_units="M/S", output_units="COUNTS",
                             normalization_frequency=frequency_hz)
    resp.recalculate_overall_sensitivity(frequency_hz)
    return resp


def build_inventory(station_table: str | Path, network: str, channels: list[str], sample_rate: float,
                    gain: float, start: UTCDateTime, end: UTCDateTime | None = None,
                    location: str = "", note: str = "") -> Inventory:
    """StationXML inventory for every station in ``station_table`` with the given channels."""
    table = read_station_csv(station_table, default_network=network)
    inv = table.inventory
    text = (f"{PLACEHOLDER_MARK}: flat velocity 30 s-Nyquist, overall gain {gain:.4g} counts/(m/s). "
            + (note or "Real response not available offline; see pipeline/stations/build.py."))
    for net in inv:
        net.code = network
        net.start_date = start
        net.end_date = end
        for sta in net:
            sta.start_date, sta.end_date = start, end
            sta.creation_date = start
            sta.channels = []
            for code in channels:
                az, dip = _orientation(code)
                ch = Channel(code=code, location_code=location, latitude=sta.latitude,
                             longitude=sta.longitude, elevation=sta.elevation, depth=0.0,
                             azimuth=az, dip=dip, sample_rate=sample_rate, start_date=start,
                             end_date=end, description=text,
                             response=placeholder_response(gain))
                ch.comments.append(Comment(value=text))
                sta.channels.append(ch)
    inv.source = "idc-pipeline stations build-xml"
    inv.sender = "idc-pipeline"
    return inv
