"""Open exports for scientists: ``GET /open/catalog.parquet`` (a product's catalogue table as
Parquet) and ``GET /open/waveforms.nc`` (archive waveforms as NetCDF via xarray). See
:mod:`pipeline.alerts.open_data`. Access: the product (SEL1…SSEB) or ``waveforms`` through the
access policy; where the policy gives the public only part of a bulletin
(``[access.public_events]``), only those events are exported."""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE
from pipeline.service.auth import Principal, current_principal
from pipeline.service.fdsn.params import TIME_PATTERN, FDSNError
from pipeline.store.products import product_stem, window_stamp

router = APIRouter(tags=["open data"])
PRODUCTS = ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")
#: OpenAPI description of the time parameters (the FDSN time form; other forms obspy reads are accepted too)
_TIME = {"pattern": TIME_PATTERN}


def _time(value: str, name: str) -> UTCDateTime:
    try:
        return UTCDateTime(value)
    except BAD_VALUE:
        raise FDSNError(400, f"Invalid parameter '{name}': {value!r} is not a time (e.g. 2014-08-24T00:00:00)") from None


def _window(start: str, end: str) -> tuple[UTCDateTime, UTCDateTime]:
    t1, t2 = _time(start, "start"), _time(end, "end")
    if t2 <= t1:
        raise FDSNError(400, "Invalid parameters: 'end' is not after 'start'")
    return t1, t2


def _decision(principal: Principal, product: str):
    """(full access?, public rule or None); raises 403 when the product may not be read."""
    try:
        from pipeline.service.auth import require
    except ImportError:  # pragma: no cover
        return True, None
    d = require(principal, product, partial_ok=True)
    if getattr(d, "full", True):
        return True, None
    cfg = principal.access.public_events
    return False, {"min_magnitude": cfg.min_magnitude, "magnitude_type": cfg.magnitude_type,
                   "min_age_days": cfg.min_age_days, "now": time.time()}


@router.get("/catalog.parquet")
def catalog_parquet(request: Request,
                    product: str = Query("REB", description="SEL1, SEL2, SEL3, REB, SEB or SSEB.",
                                          json_schema_extra={"enum": list(PRODUCTS)}),
                    start: str = Query(..., description="Start of the window (UTC).", json_schema_extra=_TIME),
                    end: str = Query(..., description="End of the window (UTC).", json_schema_extra=_TIME),
                    table: str = Query("events", description="events, origins, magnitudes or arrivals.",
                                        json_schema_extra={"enum": ["events", "origins", "magnitudes", "arrivals"]}),
                    principal: Principal = Depends(current_principal)):
    """One catalogue table of the newest product versions in [start, end) as Parquet.

    ``table``: ``events`` (default), ``origins``, ``magnitudes`` or ``arrivals`` (columns: module
    docstring of :mod:`pipeline.alerts.open_data`). The answer names its catalog in
    ``X-IDC-Catalog``; an empty table says why in ``X-IDC-Note`` and in the Parquet metadata
    (``idc:note``), and a window for which no such product has been published answers 404 with
    that reason (so ``pandas.read_parquet(url)`` fails instead of returning an empty table)."""
    from pipeline.alerts.open_data import TABLES, catalog_tables, empty_note, parquet_bytes

    if product not in PRODUCTS:
        raise FDSNError(400, f"Invalid parameter 'product': {product!r} (one of {', '.join(PRODUCTS)})")
    if table not in TABLES:
        raise FDSNError(400, f"Invalid parameter 'table': {table!r} (one of {', '.join(TABLES)})")
    t1, t2 = _window(start, end)
    _, rule = _decision(principal, product)
    tables = catalog_tables(request.app.state.idc.settings, product, t1, t2, rule)
    note = empty_note(tables, rule)
    if not tables["events"].attrs["product_versions"]:
        raise FDSNError(404, f"Nothing to export: {note}")
    meta = {"product": product, "start": str(t1), "end": str(t2), "table": table, "public_part_only": rule is not None}
    body = parquet_bytes(tables[table], meta | ({"note": note} if note else {}))
    name = f"{product_stem(product, t1, t2, table)}.parquet"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-IDC-Catalog": product}
    if note:
        headers["X-IDC-Note"] = note
    return Response(body, media_type="application/vnd.apache.parquet", headers=headers)


@router.get("/waveforms.nc")
def waveforms_netcdf(request: Request,
                     start: str = Query(..., description="Start of the window (UTC).", json_schema_extra=_TIME),
                     end: str = Query(..., description="End of the window (UTC).", json_schema_extra=_TIME),
                     network: str = Query("*", description="Network code(s), wildcards, comma list."),
                     station: str = Query("*", description="Station code(s)."),
                     location: str = Query("*", description="Location code(s)."),
                     channel: str = Query("*", description="Channel code(s)."),
                     principal: Principal = Depends(current_principal)):
    """Archive waveforms of [start, end) as NetCDF-4 (xarray); 204 when nothing matches."""
    from pipeline.alerts.open_data import netcdf_bytes, waveform_dataset

    t1, t2 = _window(start, end)
    full, _ = _decision(principal, "waveforms")
    if not full:
        raise FDSNError(403, "Waveforms are not open to this principal")
    try:
        ds = waveform_dataset(request.app.state.idc.settings, t1, t2, network, station, location, channel)
    except ValueError as exc:
        raise FDSNError(413 if "limit" in str(exc) else 400, str(exc)) from None
    if not ds.data_vars:
        return Response(status_code=204)
    return Response(netcdf_bytes(ds), media_type="application/x-netcdf",
                    headers={"Content-Disposition": f'attachment; filename="waveforms_{window_stamp(t1, micro=False)}.nc"'})
