"""The web UI's operators' dashboard (issue 14): ``GET /ui/api/dashboard`` for ``#/dashboard``.

What an IDC operator watches (in the spirit of SeisComP's ``scmm`` and the IDC operations
displays): per product type (:data:`pipeline.store.products.PRODUCT_TYPES`) the runs of the product
run log (``product_run``) with their latency (as the log defines it: data-window end → product
stored; backfills: newest data arrival → stored, :func:`pipeline.store.products.record_run`),
windows done and windows missing; the ingest rate per hour; the quarantine; per station the newest
sample and the silent stations; the alerts issued. Only IDC staff (roles
:data:`pipeline.accounts.config.IDC_ROLES`: analyst, operator) may read it: the public gets 401, any
other account 403 (FDSN error documents; no Digest/Basic challenge, so a browser opens no dialog).

Parameters (all optional):

* ``since``, ``until`` — ISO 8601 times (UTC) of the period;
* ``hours`` — length of the period when ``since`` is absent (default 24, at most
  :data:`MAX_HOURS`);
* ``silent_after_s`` — a known station is *silent* when its newest sample is older than this
  at the period end, or it has no data at all (default :data:`SILENT_AFTER_S`, 1 h: there is no
  settings section for it);
* ``recent`` — rows of the run, quarantine and alert tables (default 20, at most 200).

Two clocks: *data time* (product windows, waveform samples) and *arrival time* (when a run
finished, an input was accepted or quarantined, an alert sent). Both are one period when
``until`` or ``since`` is given. Without them each clock's period ends *now* when the store has
something of that clock within the last ``hours`` (a live store), else at the newest record of
that clock (a store of archived or demo data), and the answer says so (``period.anchor``,
``activity_period.anchor``) with how long the store has been idle.

Selections: product runs by the end of their data window in ``[since, until]`` (both ends
inclusive, as :func:`pipeline.tasks.latency_report`, from the same query
:func:`pipeline.store.operations.product_runs`); station freshness relative to ``period.until``;
gaps inside ``[since, until)`` (leading and trailing missing data count as latency, not gaps);
ingest, quarantine and alerts by arrival time in ``activity_period``.

Status colours (``status``: ``ok`` | ``warn`` | ``bad`` | ``none``) follow :func:`_product_status`
and the rules next to the other cards; the latency limits are the IDC's reference latencies
(:data:`LATENCY_LIMITS_S`).
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from obspy import UTCDateTime

from pipeline.errors import BAD_VALUE
from pipeline.accounts.config import IDC_ROLES
from pipeline.service.ui import FDSNError, Principal, current_principal, require_role

router = APIRouter(tags=["web UI"])

#: default silence threshold, s
SILENT_AFTER_S = 3600.0
#: longest period, hours (92 days: the hourly ingest series stays ≤ 2208 bars)
MAX_HOURS = 92 * 24.0
#: (warn, bad) limits of the median latency per product, s: the lower and upper ends of the real
#: IDC's reference latencies (SEL1 1–2 h, SEL2 4–6 h, SEL3 6–12 h after real time, REB within
#: 2 days; SEB/SSEB follow the REB); we aim for minutes, so a warning means far behind
LATENCY_LIMITS_S = {"SEL1": (3600.0, 7200.0), "SEL2": (4 * 3600.0, 6 * 3600.0), "SEL3": (6 * 3600.0, 12 * 3600.0),
                    "REB": (36 * 3600.0, 48 * 3600.0), "SEB": (48 * 3600.0, 72 * 3600.0),
                    "SSEB": (48 * 3600.0, 72 * 3600.0)}


# --------------------------------------------------------------------------- access and parameters
def require_staff(principal: Principal) -> None:
    """401 for the public (no token), 403 for an account that is not IDC staff."""
    if "operations" not in principal.products:
        principal.products.append("operations")  # named in the download audit row
    require_role(principal, IDC_ROLES,
                 "The operations dashboard is for IDC staff: send the API token of an analyst or operator "
                 "(Authorization: Bearer ...; in the web UI: the Login page)",
                 "The operations dashboard is for IDC staff (roles {roles}); account {name} has role {role}")


def _time(name: str, v: str) -> float | None:
    if not v:
        return None
    try:
        return float(UTCDateTime(v).timestamp)
    except BAD_VALUE:
        raise FDSNError(400, f"Invalid value for parameter '{name}': {v!r} (ISO 8601 time, UTC)") from None


def _iso(t: float | datetime | None) -> str | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        t = t.timestamp()
    return str(UTCDateTime(t))


def _num(x, nd: int = 3):
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def _period(since: float | None, until: float | None, hours: float, now: float, newest: float | None,
            what: str) -> dict:
    """The period of one clock (see the module docstring)."""
    span = hours * 3600.0
    if until is not None:
        anchor = "given"
    elif since is not None:
        until, anchor = now, "now"
    elif newest is None or now - newest <= span:
        until, anchor = now, "now"
    else:
        until, anchor = newest, f"newest {what}"
    since = until - span if since is None else since
    if until <= since:
        raise FDSNError(400, "Invalid parameters: 'until' must be after 'since'")
    if until - since > MAX_HOURS * 3600.0:
        raise FDSNError(400, f"Invalid value for parameter 'since': the period may be at most {MAX_HOURS / 24:g} days "
                             f"(asked {(until - since) / 86400.0:.1f} days)")
    return {"since": _iso(since), "until": _iso(until), "since_epoch": since, "until_epoch": until,
            "hours": round((until - since) / 3600.0, 6), "anchor": anchor,
            "newest": _iso(newest), "idle_s": None if newest is None else _num(now - newest, 1)}


# --------------------------------------------------------------------------- products
def _stats(values: list[float]) -> dict | None:
    """median / 90th percentile / max as :func:`pipeline.tasks.latency_report` computes them."""
    import numpy as np

    if not values:
        return None
    a = np.asarray(values, dtype=float)
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "max": float(a.max())}


def window_gaps(windows: list[tuple[float, float]]) -> tuple[list[dict], float | None]:
    """Holes in a product's sequence of windows (between the first and the last window done):
    ``[{"start", "end", "windows"}]`` where ``windows`` is the hole's length in typical (median)
    window lengths, at least 1; and that typical length (s)."""
    import numpy as np

    ws = sorted(set(windows))
    if not ws:
        return [], None
    typical = float(np.median([b - a for a, b in ws]))
    gaps, cover = [], ws[0][1]
    for a, b in ws[1:]:
        if a > cover + 1e-6:
            gaps.append({"start": _iso(cover), "end": _iso(a), "start_epoch": cover, "end_epoch": a,
                         "windows": max(1, int(round((a - cover) / typical))) if typical > 0 else 1})
        cover = max(cover, b)
    return gaps, typical


def _product_status(p: dict) -> tuple[str, str]:
    """``none`` without runs; ``bad``/``warn`` when the median latency is past the product's
    limits (:data:`LATENCY_LIMITS_S`); ``warn`` when windows are missing; else ``ok``."""
    if not p["runs"]:
        return "none", "no runs in the period"
    warn, bad = LATENCY_LIMITS_S.get(p["type"], (math.inf, math.inf))
    med = p["latency_s"]["median"]
    if med > bad:
        return "bad", f"median latency {med:.0f} s > {bad:.0f} s"
    if med > warn:
        return "warn", f"median latency {med:.0f} s > {warn:.0f} s"
    if p["windows_missing"]:
        return "warn", f"{p['windows_missing']} window(s) missing"
    return "ok", "latency and window sequence normal"


def products_block(runs, since: float, until: float) -> tuple[list[dict], list[dict]]:
    """Per product type: runs, windows, latency and duration statistics, the last run, the latency
    series ``[window end, latency s, finished]`` (epoch s) and the missing windows; plus every run
    (newest first) for the table of the last runs."""
    from pipeline.store.products import PRODUCT_TYPES

    out = []
    for typ in PRODUCT_TYPES:
        sel = [r for r in runs if r.type == typ]
        wins = {(r.window_start, r.window_end) for r in sel}
        gaps, typical = window_gaps(list(wins))
        p = {"type": typ, "runs": len(sel), "windows": len(wins), "new_versions": sum(1 for r in sel if r.new_version),
             "latency_s": _stats([r.latency_s for r in sel]), "duration_s": _stats([r.duration_s for r in sel]),
             "window_s": typical, "windows_missing": sum(g["windows"] for g in gaps), "gaps": gaps,
             "last": None, "behind_s": None,
             "series": [[r.window_end, _num(r.latency_s), r.finished.timestamp()] for r in sel]}
        if sel:
            last = sel[-1]
            p["last"] = _run_json(last)
            p["behind_s"] = _num(until - max(b for _, b in wins), 1)
        p["status"], p["status_reason"] = _product_status(p)
        p["limits_s"] = list(LATENCY_LIMITS_S.get(typ, (None, None)))
        out.append(p)
    return out, [_run_json(r) for r in sorted(runs, key=lambda r: r.finished, reverse=True)]


def _run_json(r) -> dict:
    return {"type": r.type, "window": [_iso(r.window_start), _iso(r.window_end)], "version": r.version,
            "new_version": r.new_version, "status": f"{'new version' if r.new_version else 'replaced'} v{r.version}",
            "events": r.events, "started": _iso(r.started), "finished": _iso(r.finished),
            "latency_s": _num(r.latency_s), "duration_s": _num(r.duration_s), "runner": r.runner, "run_id": r.run_id}


# --------------------------------------------------------------------------- ingest, quarantine, stations, alerts
def hourly(accepted, rejected, since: float, until: float) -> list[dict]:
    """Accepted and rejected inputs (and bytes, samples) per hour of arrival time; the first bin
    starts at the full hour at or before ``since``."""
    t0 = math.floor(since / 3600.0) * 3600.0
    n = max(1, int(math.ceil((until - t0) / 3600.0)))
    bins = [{"start": t0 + 3600.0 * i, "accepted": 0, "rejected": 0, "bytes": 0, "samples": 0} for i in range(n)]
    for t, nbytes, nsamp in accepted:
        b = bins[min(n - 1, int((t.timestamp() - t0) // 3600))]
        b["accepted"] += 1
        b["bytes"] += nbytes
        b["samples"] += nsamp
    for t in rejected:
        bins[min(n - 1, int((t.timestamp() - t0) // 3600))]["rejected"] += 1
    return bins


def ingest_block(s, a0: float, a1: float) -> dict:
    """Rule: ``bad`` when nothing was accepted in the period (or everything was rejected),
    ``warn`` when something was rejected, else ``ok``."""
    from pipeline.store import operations as ops

    since, until = datetime.fromtimestamp(a0, timezone.utc), datetime.fromtimestamp(a1, timezone.utc)
    acc = ops.accepted_files(s, since, until)
    rej = ops.rejections(s, since, until)
    tot = ops.ingest_totals(s)
    hours = (a1 - a0) / 3600.0
    d = {"accepted": len(acc), "rejected": len(rej), "bytes": sum(x[1] for x in acc),
         "samples": sum(x[2] for x in acc), "files_per_hour": _num(len(acc) / hours, 3),
         "hourly": hourly(acc, rej, a0, a1), "newest_data": _iso(ops.newest_sample(s)),
         "newest_file": _iso(tot["newest"]), "total_files": tot["files"], "total_bytes": tot["bytes"],
         "total_samples": tot["samples"]}
    if not acc:
        d["status"], d["status_reason"] = "bad", ("every input of the period was rejected" if rej
                                                  else "no input accepted in the period")
    elif rej:
        d["status"], d["status_reason"] = "warn", f"{len(rej)} input(s) rejected"
    else:
        d["status"], d["status_reason"] = "ok", "inputs accepted, none rejected"
    return d


def quarantine_block(s, settings, a0: float, a1: float, recent: int) -> dict:
    """Rule: ``ok`` when no quarantined copy is held, ``bad`` when inputs were rejected in the
    period, else ``warn`` (older copies still wait for an operator)."""
    from pipeline.store import operations as ops

    q = ops.quarantine_summary(s, datetime.fromtimestamp(a0, timezone.utc), datetime.fromtimestamp(a1, timezone.utc),
                               recent)
    folder = settings.quarantine_dir
    on_disk = sum(1 for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".")) if folder.is_dir() else 0
    d = {"in_period": q["in_period"], "held": q["held"], "unresolved": q["unresolved"], "files_on_disk": on_disk,
         "folder": str(folder),
         "recent": [{"id": r.id, "file": r.source.rsplit("/", 1)[-1], "source": r.source, "kind": r.kind,
                     "reason": r.message, "time": _iso(r.created), "quarantine_path": r.quarantine_path,
                     "resolved": r.resolved} for r in q["recent"]]}
    if not d["held"]:
        d["status"], d["status_reason"] = "ok", "nothing held"
    elif d["in_period"]:
        d["status"], d["status_reason"] = "bad", f"{d['in_period']} input(s) quarantined in the period"
    else:
        d["status"], d["status_reason"] = "warn", f"{d['held']} quarantined input(s) held"
    return d


def stations_block(s, since: float, until: float, silent_after_s: float) -> dict:
    """Per known station (site epochs overlapping the period): newest sample at or before the
    period end, its latency, channels, coverage of the period and gaps *between* its data (the
    missing start and end of the period are not gaps here: the end is what latency measures).
    Rule: ``ok`` without silent stations, ``warn`` while fewer than a quarter are silent, else
    ``bad`` (``none`` when the site table is empty)."""
    from pipeline.store import operations as ops
    from pipeline.store.availability import channel_coverage

    known = ops.known_stations(s, since, until)
    newest = ops.station_newest_samples(s, until)
    cov: dict[tuple[str, str], list] = defaultdict(list)
    for c in channel_coverage(s, since, until):
        net, sta = c.nslc.split(".")[:2]
        inner = [g for g in c.gaps if g[0] != since and g[1] != until]
        cov[(net, sta)].append((c.coverage, len(inner), sum(b - a for a, b in inner)))
    rows = []
    for k in known:
        t = newest.get((k.net, k.sta))
        c = cov.get((k.net, k.sta), [])
        lat = None if t is None else until - t[0]
        rows.append({"network": k.net, "station": k.sta, "name": k.name, "latitude": k.lat, "longitude": k.lon,
                     "newest": _iso(t[0]) if t else None, "latency_s": _num(lat, 3),
                     "channels": t[1] if t else 0, "channels_in_period": len(c),
                     "coverage": _num(sum(x[0] for x in c) / len(c), 6) if c else 0.0,
                     "gaps": sum(x[1] for x in c), "gap_s": _num(sum(x[2] for x in c), 3),
                     "silent": lat is None or lat > silent_after_s})
    silent = [r for r in rows if r["silent"]]
    d = {"known": len(rows), "with_data": sum(1 for r in rows if r["channels_in_period"]),
         "silent_count": len(silent), "silent_after_s": silent_after_s, "stations": rows,
         "silent": [r["network"] + "." + r["station"] for r in silent],
         "with_gaps": [r["network"] + "." + r["station"] for r in rows if r["gaps"]]}
    if not rows:
        d["status"], d["status_reason"] = "none", "no station in the site table for the period"
    elif not silent:
        d["status"], d["status_reason"] = "ok", "every station delivers"
    elif 4 * len(silent) < len(rows):
        d["status"], d["status_reason"] = "warn", f"{len(silent)} of {len(rows)} station(s) silent"
    else:
        d["status"], d["status_reason"] = "bad", f"{len(silent)} of {len(rows)} station(s) silent"
    return d


def alerts_block(settings, a0: float, a1: float, recent: int) -> dict:
    """The CAP messages of ``products/alerts/state.json`` (:mod:`pipeline.alerts.feed`): alerted
    events, messages sent in the period, the newest messages. Rule: ``warn`` when messages were sent
    in the period (someone received an alert: worth a look), ``ok`` otherwise."""
    from pipeline.alerts.feed import _load_state, alerts_dir

    try:
        state = _load_state(alerts_dir(settings))
    except ValueError as exc:
        return {"events": None, "messages": None, "in_period": None, "recent": [], "status": "bad",
                "status_reason": str(exc)}
    msgs = []
    for rec in state.get("events", {}).values():
        v = rec.get("values", {})
        for m in rec.get("messages", []):
            try:
                sent = datetime.fromisoformat(m["sent"]).timestamp()
            except (KeyError, TypeError, ValueError):
                continue
            msgs.append({"identifier": m.get("identifier", ""), "msgType": m.get("msgType", ""), "sent": _iso(sent),
                         "sent_epoch": sent, "product": m.get("product", ""), "version": m.get("version"),
                         "origin_time": _iso(v.get("time")), "magnitude": v.get("mag"), "magtype": v.get("magtype", ""),
                         "region": v.get("region", "")})
    msgs.sort(key=lambda m: m["sent_epoch"], reverse=True)
    n = sum(1 for m in msgs if a0 <= m["sent_epoch"] < a1)
    return {"events": len(state.get("events", {})), "messages": len(msgs), "in_period": n, "recent": msgs[:recent],
            "status": "warn" if n else "ok",
            "status_reason": f"{n} alert message(s) sent in the period" if n else "no alert sent in the period"}


# --------------------------------------------------------------------------- the endpoint
def dashboard_json(settings, session, since: float | None = None, until: float | None = None, hours: float = 24.0,
                   silent_after_s: float = SILENT_AFTER_S, recent: int = 20, now: float | None = None) -> dict:
    """The dashboard's document (see the module docstring) from an open store ``session``."""
    from pipeline.store import operations as ops

    now = time.time() if now is None else now
    newest_we, _ = ops.newest_run(session)
    newest_data = ops.newest_sample(session)
    data_newest = max((t for t in (newest_we, newest_data) if t is not None), default=None)
    act = ops.newest_activity(session)
    period = _period(since, until, hours, now, data_newest, "data" if data_newest == newest_data else "product window")
    activity = _period(since, until, hours, now, None if act is None else act.timestamp(), "activity")
    p0, p1 = period["since_epoch"], period["until_epoch"]
    a0, a1 = activity["since_epoch"], activity["until_epoch"]
    runs = ops.product_runs(session, None, p0, p1)
    products, all_runs = products_block(runs, p0, p1)
    return {"generated": _iso(now), "period": period, "activity_period": activity,
            "products": products, "runs": all_runs[:recent], "runs_total": len(all_runs),
            "ingest": ingest_block(session, a0, a1),
            "quarantine": quarantine_block(session, settings, a0, a1, recent),
            "stations": stations_block(session, p0, p1, silent_after_s),
            "alerts": alerts_block(settings, a0, a1, recent),
            "latency_limits_s": LATENCY_LIMITS_S}


@router.get("/ui/api/dashboard")
def dashboard(request: Request, since: str = "", until: str = "", hours: str = "", silent_after_s: str = "",
              recent: str = "", principal: Principal = Depends(current_principal)):
    """The operators' dashboard (IDC staff only; parameters in the module docstring)."""
    require_staff(principal)
    t0, t1 = _time("since", since), _time("until", until)

    def number(name, v, default, lo, hi):
        if v == "":
            return default
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        if not (lo < x <= hi):
            raise FDSNError(400, f"Invalid value for parameter '{name}': {v!r} (a number > {lo:g} and <= {hi:g})")
        return x

    h = number("hours", hours, 24.0, 0.0, MAX_HOURS)
    silent = number("silent_after_s", silent_after_s, SILENT_AFTER_S, 0.0, 365 * 86400.0)
    n = int(number("recent", recent, 20, 0, 200))
    st = request.app.state.idc
    with st.session() as s:
        doc = dashboard_json(st.settings, s, t0, t1, h, silent, n)
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})
