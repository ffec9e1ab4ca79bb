"""Radionuclide samples and their reports over HTTP (issue 17 item 5), for States and the web UI's
sample pages. Access: the report product ``RRR`` (sample list, sample analysis, reports) and
``SAMPLEPHD`` (spectra and the PHD messages) through the access policy
(:func:`pipeline.service.auth.require`; default: States and IDC staff, not the public — 401/403
otherwise, as the other products). Every request goes through :func:`current_principal` (audit).

* ``GET /radionuclide/1/samples?station=&start=&end=&type=`` — stored samples (collection
  overlapping [start, end)) with category, detected nuclides and newest RRR version;
* ``GET /radionuclide/1/samples/{id}`` — one sample with its stored analysis and RRR versions;
* ``GET /radionuclide/1/samples/{id}/rrr?format=json|text&version=`` — its report (newest version
  by default) as JSON (:func:`pipeline.radionuclide.report.report_json`) or as an IMS2.0 message;
* ``GET /radionuclide/1/samples/{id}/spectrum`` — plot data (gamma/beta spectra, beta–gamma
  histogram, ROIs, peaks: :func:`pipeline.radionuclide.report.spectrum_plot_data`);
* ``GET /radionuclide/1/samples/{id}/phd`` — the stored PHD message as received.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE
from pipeline.service.auth import Principal, current_principal, require
from pipeline.service.fdsn.params import FDSNError

router = APIRouter(tags=["radionuclide"])


def _time(value: str, name: str) -> str | None:
    if not value:
        return None
    try:
        return str(UTCDateTime(value))
    except BAD_VALUE:
        raise FDSNError(400, f"Invalid value for parameter '{name}': {value!r} (ISO 8601 time)") from None


def _sample(settings, sample_id: int) -> dict:
    from pipeline import tasks

    if not 1 <= sample_id < 2**31:
        raise FDSNError(404, f"No radionuclide sample {sample_id}")
    try:
        return tasks.radionuclide_sample(settings, sample_id)
    except FileNotFoundError as exc:
        raise FDSNError(404, str(exc)) from None


@router.get("/samples")
def samples(request: Request, station: str = "", start: str = "", end: str = "", type: str = "",
            principal: Principal = Depends(current_principal)):
    """Stored samples, oldest collection first, with their newest report version (``rrr_version``)."""
    from pipeline import tasks

    require(principal, "RRR")
    settings = request.app.state.idc.settings
    t0, t1 = _time(start, "start"), _time(end, "end")
    rows = tasks.radionuclide_samples(settings, station or None, t0, t1, type or None)
    newest = {r["sample_id"]: r["version"] for r in tasks.radionuclide_report_list(settings, station or None, t0, t1)}
    out = []
    for r in rows:
        out.append({k: r[k] for k in ("id", "station", "detector", "system_type", "data_type", "qualifier", "srid",
                                      "measurement_id", "kind", "category", "category_reason", "error",
                                      "air_volume_m3")}
                   | {"collection_start": None if r["collection_start"] is None else str(UTCDateTime(r["collection_start"])),
                      "collection_stop": None if r["collection_stop"] is None else str(UTCDateTime(r["collection_stop"])),
                      "detected": [n["nuclide"] for n in r["nuclides"] if n["detected"]],
                      "rrr_version": newest.get(r["id"])})
    return JSONResponse({"samples": out})


@router.get("/samples/{sample_id}")
def sample(sample_id: int, request: Request, principal: Principal = Depends(current_principal)):
    require(principal, "RRR")
    return JSONResponse(_sample(request.app.state.idc.settings, sample_id))


@router.get("/samples/{sample_id}/rrr")
def sample_rrr(sample_id: int, request: Request, format: str = "json", version: int | None = None,
               principal: Principal = Depends(current_principal)):
    from pipeline import tasks
    from pipeline.io.ims1 import new_msg_id
    from pipeline.radionuclide.report import rrr_message

    require(principal, "RRR")
    if format not in ("json", "text"):
        raise FDSNError(400, f"Invalid value for parameter 'format': {format!r} (json or text)")
    settings = request.app.state.idc.settings
    _sample(settings, sample_id)
    try:
        reps = tasks.radionuclide_report_list(settings, sample_id=sample_id, version=version)
    except FileNotFoundError as exc:
        raise FDSNError(404, str(exc)) from None
    if not reps:
        raise FDSNError(404, f"No RRR for sample {sample_id} yet (built by the radionuclide DAG or "
                             "`idc radionuclide report`)")
    if format == "json":
        return JSONResponse(reps[-1])
    return PlainTextResponse(rrr_message(reps[-1:], new_msg_id(), settings.radionuclide.rrr.agency),
                             media_type="text/plain; charset=utf-8")


@router.get("/samples/{sample_id}/spectrum")
def sample_spectrum(sample_id: int, request: Request, principal: Principal = Depends(current_principal)):
    from pipeline import tasks

    require(principal, "SAMPLEPHD")
    settings = request.app.state.idc.settings
    _sample(settings, sample_id)
    return JSONResponse(tasks.radionuclide_spectrum(settings, sample_id),
                        headers={"Cache-Control": "private, max-age=300"})


@router.get("/samples/{sample_id}/phd")
def sample_phd(sample_id: int, request: Request, principal: Principal = Depends(current_principal)):
    from pipeline import tasks

    require(principal, "SAMPLEPHD")
    settings = request.app.state.idc.settings
    _sample(settings, sample_id)
    name, text = tasks.radionuclide_phd(settings, sample_id)
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
