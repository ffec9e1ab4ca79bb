"""Picks DataFrame -> obspy ``Pick`` and ``Amplitude`` objects (the QuakeML edge).

Units follow QuakeML/obspy: ``Amplitude.generic_amplitude`` is SI, so the DataFrame's
nanometres are multiplied by 1e-9 and ``unit="m"``; ``Pick.horizontal_slowness`` is s/deg and
``Pick.backazimuth`` degrees, as in the DataFrame.

Amplitude types written:

``A5/2`` (``magnitude_hint="mb"``)
    IDC body-wave amplitude: half peak-to-trough ground displacement, 0.8-4.5 Hz, vertical;
    ``period`` s; ``time_window`` = mb window relative to the pick time.
``AML`` (``magnitude_hint="ML"``)
    Wood-Anderson zero-to-peak amplitude with static magnification 1 (IASPEI ML amplitude),
    max of the horizontals; ``period`` s; ``time_window.reference`` = the time of the maximum
    (``begin = end = 0``; SeisComP likewise refers amplitudes to the time they were read at).

Detection attributes without a QuakeML field (SNR, incidence, rectilinearity) are stored on the
Pick in obspy's ``extra`` namespace :data:`NAMESPACE`.
"""
from __future__ import annotations

import math

import pandas as pd
from obspy import UTCDateTime
from obspy.core.event import (Amplitude, CreationInfo, Pick, QuantityError, ResourceIdentifier,
                              TimeWindow, WaveformStreamID)

from pipeline.picks import normalise_picks

NAMESPACE = "https://idc-pipeline.invalid/detection/1.0"
DEFAULT_METHOD_ID = "smi:local/idc-pipeline/detection/stalta-aic"


def _f(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _err(v) -> QuantityError:
    return QuantityError(uncertainty=_f(v))


def picks_to_obspy(df: pd.DataFrame, method_id: str = DEFAULT_METHOD_ID, agency_id: str | None = None,
                   mb_window_s: tuple[float, float] = (0.0, 5.5)) -> tuple[list[Pick], list[Amplitude]]:
    """Convert a picks DataFrame (:data:`pipeline.picks.PICK_COLUMNS`) to obspy objects.

    :param df: picks DataFrame (normalised first with :func:`pipeline.picks.normalise_picks`)
    :param method_id: ``Pick.method_id``
    :param agency_id: ``CreationInfo.agency_id`` (optional)
    :param mb_window_s: mb window relative to the onset written as the A5/2 ``time_window``, s
    :returns: ``(picks, amplitudes)``; each ``Amplitude.pick_id`` refers to its ``Pick``;
        rows without amplitude give no Amplitude. Resource ids are
        ``smi:local/pick/<pick_id>`` and ``smi:local/amplitude/<pick_id>/<type>``.
    """
    df = normalise_picks(df)
    picks: list[Pick] = []
    amps: list[Amplitude] = []
    ci = CreationInfo(agency_id=agency_id) if agency_id else None
    for r in df.itertuples(index=False):
        wid = WaveformStreamID(network_code=r.network or None, station_code=r.station,
                               location_code=r.location, channel_code=r.channel or None)
        t = UTCDateTime(r.time)
        pick = Pick(resource_id=ResourceIdentifier(f"smi:local/pick/{r.pick_id}"),
                    time=t, time_errors=_err(r.time_uncertainty), waveform_id=wid,
                    phase_hint=r.phase or None, evaluation_mode="automatic",
                    method_id=ResourceIdentifier(method_id),
                    backazimuth=_f(r.backazimuth), backazimuth_errors=_err(r.backazimuth_uncertainty),
                    horizontal_slowness=_f(r.slowness),
                    horizontal_slowness_errors=_err(r.slowness_uncertainty),
                    creation_info=ci)
        extra = {k: getattr(r, k) for k in ("snr", "incidence", "rectilinearity")
                 if _f(getattr(r, k)) is not None}
        if extra:
            pick.extra = {k: {"value": f"{v:.6g}", "namespace": NAMESPACE} for k, v in extra.items()}
        picks.append(pick)
        if _f(r.amplitude) is not None:
            amps.append(Amplitude(
                resource_id=ResourceIdentifier(f"smi:local/amplitude/{r.pick_id}/A5_2"),
                generic_amplitude=r.amplitude * 1e-9, type="A5/2", unit="m",
                period=_f(r.period), snr=_f(r.snr), magnitude_hint="mb", category="period",
                time_window=TimeWindow(begin=-mb_window_s[0], end=mb_window_s[1], reference=t),
                pick_id=pick.resource_id, waveform_id=wid, evaluation_mode="automatic",
                method_id=ResourceIdentifier(method_id), creation_info=ci))
        if _f(r.amp_wa) is not None:
            amps.append(Amplitude(
                resource_id=ResourceIdentifier(f"smi:local/amplitude/{r.pick_id}/AML"),
                generic_amplitude=r.amp_wa * 1e-9, type="AML", unit="m",
                period=_f(r.amp_wa_period), snr=_f(r.snr), magnitude_hint="ML", category="point",
                time_window=(TimeWindow(begin=0.0, end=0.0, reference=UTCDateTime(r.amp_wa_time))
                             if _f(r.amp_wa_time) is not None else None),
                pick_id=pick.resource_id, waveform_id=wid, evaluation_mode="automatic",
                method_id=ResourceIdentifier(method_id), creation_info=ci))
    return picks, amps
