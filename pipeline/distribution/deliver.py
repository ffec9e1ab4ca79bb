"""Deliver a new product version to the subscriptions that want it (the ``distribute`` DAG).

:func:`deliver_product` is the entry point (``pipeline.tasks.subscriptions_deliver``). For every
active subscription listing the product it builds the deliveries — one bulletin, one alert per
matching event, or the station data of the window — and sends each one by webhook or e-mail.

Idempotency
-----------
Every delivery has a **deterministic id**: the first 32 hex digits of
``SHA-256(subscription | product | window start | window end | version | item)`` (item = the
event id of an alert, empty otherwise). The ``delivery`` table holds one row per id (unique);
a delivery whose row says ``delivered`` is never sent again, so re-running the DAG task (or
``idc subscriptions deliver``) sends only what has not arrived yet. A run claims a row
(``status = sending``, ``last_error`` naming the claimant: host, process id and its start time)
with a conditional UPDATE, so two concurrent runs do not send the same delivery. A claim whose
process is gone (killed: same host, no such process) is taken over by the next run at once; a
claim of another host after an hour.

Delivery is **at least once**, exactly once in the log: a run killed after the receiver took a
delivery and before the row says ``delivered`` sends it again when re-run, with the same id in
``X-IDC-Delivery`` (webhook) and ``Message-ID`` (e-mail) and the same body and signature, so the
receiver drops the repeat by its id (tests/faults/test_chain_faults.py kills at that point).

Transport
---------
* **webhook**: ``POST`` of a JSON document (``Content-Type: application/json``) with headers
  ``X-IDC-Delivery: <id>``, ``X-IDC-Kind: bulletin|alert|station_data`` and
  ``X-IDC-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the
  subscription's secret>`` (the scheme of GitHub's ``X-Hub-Signature-256``). A 2xx answer is
  success; connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
  (``[subscriptions] max_attempts``, ``backoff_initial_s`` × ``backoff_factor``^n, at most
  ``backoff_max_s``); other 4xx answers fail at once. The body does not contain the send time,
  so every retry sends the same bytes and signature.
* **email**: :mod:`smtplib` to ``[subscriptions] smtp_host:smtp_port`` (optional STARTTLS and
  login), ``Message-ID: <id@idc-pipeline>``; the bulletin or miniSEED as an attachment. SMTP and
  socket errors are retried as above.

Access: a delivery is made only when the subscriber's role may read the product under
``[access]`` (bulletins: all of it; alerts: all, or for the public only the events passing the
public rule; station data: ``waveforms``); otherwise the delivery is logged as ``skipped``.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import io
import json
import logging
import math
import smtplib
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Callable

from pipeline.accounts.policy import decide
from pipeline.distribution.subscriptions import EMPTY_CHOICES
from pipeline.errors import IdcError
from pipeline.store import deliveries as log_table
from pipeline.store.deliveries import product_events  # noqa: F401  (the events a delivery is made of)
from pipeline.store.products import product_stem
from pipeline.util import fault_point, pid_alive

log = logging.getLogger("pipeline.distribution")

#: a ``sending`` claim older than this is considered abandoned by a crashed run (seconds)
STALE_CLAIM_S = 3600.0


class DeliveryError(IdcError):
    """One attempt failed; ``retry`` says whether another attempt may succeed."""

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def delivery_id(sub_id: int, product: str, window_start: float, window_end: float, version: int,
                item: str = "") -> str:
    key = f"{sub_id}|{product}|{window_start:.6f}|{window_end:.6f}|{version}|{item}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` keyed with ``secret`` (the X-IDC-Signature value)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), signature or "")


# --------------------------------------------------------------------------- what is sent
@dataclass
class Outgoing:
    """One delivery: the JSON document of a webhook, or subject/text/attachment of an e-mail."""

    item: str
    kind: str
    document: dict
    subject: str
    text: str
    attachment: tuple[str, bytes, str, str] | None = None  # filename, data, maintype, subtype
    extra: dict = field(default_factory=dict)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _distance_deg(lat1, lon1, lat2, lon2) -> float:
    """Great-circle distance on a sphere, degrees (same as fdsnws-event's radius search)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(math.radians(lon2 - lon1))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def event_passes(ev: dict, filters: dict) -> bool:
    """Whether an event (``lat``, ``lon``, ``depth_km``, ``mag``) passes alert ``filters``."""
    f = filters
    if f.get("box"):
        la0, la1, lo0, lo1 = f["box"]
        if not la0 <= ev["lat"] <= la1:
            return False
        if (lo0 <= lo1 and not lo0 <= ev["lon"] <= lo1) or (lo0 > lo1 and lo1 < ev["lon"] < lo0):
            return False
    if f.get("circle"):
        lat, lon, r = f["circle"]
        if _distance_deg(lat, lon, ev["lat"], ev["lon"]) > r:
            return False
    mag = ev["mag"]
    if f.get("min_magnitude") is not None and (mag is None or mag < f["min_magnitude"]):
        return False
    if f.get("max_magnitude") is not None and (mag is None or mag > f["max_magnitude"]):
        return False
    if f.get("min_depth_km") is not None and ev["depth_km"] < f["min_depth_km"]:
        return False
    if f.get("max_depth_km") is not None and ev["depth_km"] > f["max_depth_km"]:
        return False
    return True


def _mag_of(ev: dict, magtype: str | None):
    for t, v in ev["mags"]:
        if not magtype or t == magtype:
            return t, v
    return None, None


def _envelope(sub, kind: str, prod) -> dict:
    return {"subscription": sub.id, "kind": kind, "product": prod.type, "version": prod.version,
            "window": {"start": _iso(prod.window_start), "end": _iso(prod.window_end)}}


# --------------------------------------------------------------------------- transport
def send_webhook(cfg, url: str, secret: str, did: str, kind: str, body: bytes, client=None) -> None:
    """POST one signed delivery (``client``: an :class:`httpx.Client` to reuse connections)."""
    import httpx

    from pipeline import __version__

    headers = {"Content-Type": "application/json", "X-IDC-Delivery": did, "X-IDC-Kind": kind,
               "X-IDC-Signature": sign(secret, body), "User-Agent": f"idc-pipeline/{__version__}"}
    try:
        if client is None:
            r = httpx.post(url, content=body, headers=headers, timeout=cfg.timeout_s)
        else:
            r = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= r.status_code < 300:
        retry = r.status_code >= 500 or r.status_code in (408, 429)
        raise DeliveryError(f"HTTP {r.status_code} from {url}", retry=retry)


def smtp_session(cfg) -> smtplib.SMTP:
    """A connected SMTP client for ``[subscriptions] smtp_*`` (STARTTLS and login done), to use
    as ``with smtp_session(cfg) as s: ...``; closed again if STARTTLS or login fails."""
    s = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s)
    try:
        if cfg.smtp_starttls:
            s.starttls()
        if cfg.smtp_user:
            s.login(cfg.smtp_user, cfg.smtp_password)
    except BaseException:
        s.close()
        raise
    return s


def send_email(cfg, to: str, did: str, out: Outgoing) -> int:
    msg = EmailMessage()
    msg["From"] = cfg.mail_from
    msg["To"] = to
    msg["Subject"] = out.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{did}@idc-pipeline>"
    msg["X-IDC-Delivery"] = did
    msg["X-IDC-Kind"] = out.kind
    msg.set_content(out.text)
    if out.attachment is not None:
        name, data, maintype, subtype = out.attachment
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    raw = msg.as_bytes()
    try:
        with smtp_session(cfg) as s:
            s.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retry=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc} (SMTP {cfg.smtp_host}:{cfg.smtp_port})") from None
    return len(raw)


def with_retries(cfg, attempt: Callable[[], int], sleep: Callable[[float], None]) -> tuple[int, int | None, str]:
    """Call ``attempt`` up to ``max_attempts`` times with exponential backoff; returns
    ``(attempts made, bytes sent or None, last error)``."""
    err = ""
    for n in range(1, cfg.max_attempts + 1):
        try:
            return n, attempt(), ""
        except DeliveryError as exc:
            err = str(exc)
            if not exc.retry or n == cfg.max_attempts:
                return n, None, err
        except Exception as exc:  # a bug or bad content: logged (traceback) and recorded as failed for the delivery
            log.exception("delivery attempt failed unexpectedly")
            return n, None, f"{type(exc).__name__}: {exc}"
        sleep(min(cfg.backoff_max_s, cfg.backoff_initial_s * cfg.backoff_factor ** (n - 1)))
    return cfg.max_attempts, None, err


# --------------------------------------------------------------------------- the delivery log
def _now() -> datetime:
    return datetime.now(timezone.utc)


#: ``last_error`` of a row being sent: who claimed it (see :func:`_claimant`)
CLAIM_PREFIX = "sending: "


def _claimant() -> str:
    """``sending: host <name> pid <pid> start <ticks>`` of this process (the start time in clock
    ticks since boot, from /proc, so that a reused process id is not taken for the claimant)."""
    import os
    import socket

    return f"{CLAIM_PREFIX}host {socket.gethostname()} pid {os.getpid()} start {_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _claim_abandoned(claim: str) -> bool:
    """The claim was made by a process of this host that no longer runs (a killed run)."""
    import socket

    parts = claim[len(CLAIM_PREFIX):].split() if claim.startswith(CLAIM_PREFIX) else []
    if len(parts) != 6 or parts[1] != socket.gethostname() or not parts[3].isdigit():
        return False
    pid = int(parts[3])
    if not pid_alive(pid):
        return True
    start = _start_ticks(pid)  # the process id was reused by another process
    return "?" not in (start, parts[5]) and start != parts[5]


def _claim(url: str, sub_id: int, did: str, prod, item: str) -> bool:
    """Create or take the delivery row for sending; False when delivered or being sent."""
    now = _now()
    return log_table.claim_delivery(url, did, subscription_id=sub_id, product=prod, item=item, claimant=_claimant(),
                                    now=now, stale_before=now - timedelta(seconds=STALE_CLAIM_S),
                                    abandoned=_claim_abandoned)


def _finish(url: str, did: str, attempts: int, nbytes: int | None, error: str, status: str | None = None) -> None:
    log_table.finish_delivery(url, did, attempts=attempts, nbytes=nbytes, error=error,
                              status=status or ("delivered" if nbytes is not None else "failed"), now=_now())


#: the ``item`` of the "no events" message of a bulletin subscription (``empty = once``)
NO_EVENTS_ITEM = "no-events"


def _said_no_events(url: str, sub_id: int, prod) -> str:
    """The window (text) of the "no events" message ``sub_id`` was last sent for ``prod.type``,
    when no bulletin with events was sent after it (before ``prod``'s window); "" otherwise."""
    last = log_table.last_bulletin_delivery(url, sub_id, prod.type, prod.window_start, ("", NO_EVENTS_ITEM))
    if last is None or last[0] != NO_EVENTS_ITEM:
        return ""
    return f"{_iso(last[1])} - {_iso(last[2])}"


# --------------------------------------------------------------------------- building deliveries
class _Builder:
    """Builds the deliveries of one product version, caching what several subscriptions share."""

    def __init__(self, settings, prod, session):
        self.settings = settings
        self.prod = prod
        self.session = session
        self._events = None
        self._bulletins: dict[str, str] = {}
        self.agency = settings.service.agency_id

    def events(self) -> list[dict]:
        if self._events is None:
            self._events = product_events(self.session, self.prod)
        return self._events

    def bulletin(self, fmt: str) -> str:
        if fmt not in self._bulletins:
            from pipeline.bulletin.export import product_title, write_catalog
            from pipeline.store.catalog import load_catalog

            with tempfile.TemporaryDirectory(prefix="idc-deliver-") as tmp:
                out = Path(tmp) / f"bulletin.{fmt}"
                # a delivery re-sent after a crash must be the same message (same body, same
                # MSG_ID): the id is that of the product version, not of the moment of rendering
                p = self.prod
                key = f"{p.type}|{p.window_start:.3f}|{p.window_end:.3f}|{p.version}".encode()
                msg_id = f"{p.type[:4]}v{p.version}_{hashlib.sha256(key).hexdigest()}"[:20]
                write_catalog(load_catalog(self.session, p), out, fmt,
                              title=product_title(p.type, p.window_start, p.window_end, p.version),
                              msg_id=f"{msg_id} {self.agency or 'IDC'}")
                self._bulletins[fmt] = out.read_text(encoding="utf-8")
        return self._bulletins[fmt]

    def stem(self) -> str:
        p = self.prod
        return product_stem(p.type, p.window_start, p.window_end, p.version)

    def event_url(self, eid: str) -> str:
        base = self.settings.subscriptions.service_url.rstrip("/")
        return f"{base}/fdsnws/event/1/query?eventid={eid}" if base else ""

    # -- per kind
    def bulletin_delivery(self, sub) -> Outgoing:
        fmt = sub.format or self.settings.subscriptions.default_format
        text = self.bulletin(fmt)
        ext, subtype = ("ims1", "plain") if fmt == "ims1" else ("xml", "xml")
        doc = _envelope(sub, "bulletin", self.prod) | {"format": fmt, "events": len(self.events()),
                                                        "content": text}
        p = self.prod
        subject = (f"[{self.agency}] {p.type} {_iso(p.window_start)[:16]} - {_iso(p.window_end)[:16]} "
                   f"version {p.version} ({len(self.events())} events)")
        body = (f"{p.type} version {p.version} for {_iso(p.window_start)} - {_iso(p.window_end)}: "
                f"{len(self.events())} events, attached as {fmt.upper()}.\n")
        maintype = "text" if fmt == "ims1" else "application"
        return Outgoing("", "bulletin", doc, subject, body,
                        (f"{self.stem()}.{ext}", text.encode("utf-8"), maintype, subtype))

    def no_events_delivery(self, sub) -> Outgoing:
        """The one short message an ``empty = once`` subscription gets for a window without events."""
        p = self.prod
        doc = _envelope(sub, "bulletin", p) | {"format": sub.format or self.settings.subscriptions.default_format,
                                                "events": 0, "content": "", "note": "no events"}
        subject = (f"[{self.agency}] {p.type} {_iso(p.window_start)[:16]} - {_iso(p.window_end)[:16]} "
                   f"version {p.version}: no events")
        body = (f"{p.type} version {p.version} for {_iso(p.window_start)} - {_iso(p.window_end)} holds no events.\n"
                f"Further windows without events are not announced until a bulletin with events has been sent "
                f"(subscription option empty = once; 'each' sends every empty bulletin, 'skip' none).\n")
        return Outgoing(NO_EVENTS_ITEM, "bulletin", doc, subject, body)

    def alert_deliveries(self, sub, public_only: bool) -> list[Outgoing]:
        f = sub.filters or {}
        pe = self.settings.access.public_events
        now = time.time()
        out = []
        for ev in self.events():
            mt, mag = _mag_of(ev, f.get("magnitude_type"))
            if not event_passes(ev | {"mag": mag}, f):
                continue
            if public_only:
                _, pmag = _mag_of(ev, pe.magnitude_type or None)
                if pmag is None or pmag < pe.min_magnitude or ev["time"] > now - pe.min_age_days * 86400.0:
                    continue
            e = {"id": ev["id"], "time": _iso(ev["time"]), "latitude": ev["lat"], "longitude": ev["lon"],
                 "depth_km": ev["depth_km"], "magnitude": mag, "magnitude_type": mt, "region": ev["region"],
                 "magnitudes": [{"type": t, "value": v} for t, v in ev["mags"]], "url": self.event_url(ev["id"])}
            doc = _envelope(sub, "alert", self.prod) | {"event": e}
            magtxt = f"{mt} {mag:.1f}" if mag is not None else "no magnitude"
            subject = f"[{self.agency}] {self.prod.type} event {e['time'][:19]} {magtxt} {ev['region']}".rstrip()
            text = (f"Event {ev['id']} ({self.prod.type} version {self.prod.version})\n"
                    f"  origin time {e['time']}\n  latitude {ev['lat']:.4f}  longitude {ev['lon']:.4f}  "
                    f"depth {ev['depth_km']:.1f} km\n  magnitude {magtxt}\n"
                    + (f"  region {ev['region']}\n" if ev["region"] else "")
                    + (f"  {e['url']}\n" if e["url"] else ""))
            out.append(Outgoing(ev["id"], "alert", doc, subject, text))
        return out

    def station_data_delivery(self, sub) -> Outgoing | None:
        from obspy import Stream, UTCDateTime
        from obspy.clients.filesystem.sds import Client as SDSClient

        p = self.prod
        t0, t1 = UTCDateTime(p.window_start), UTCDateTime(p.window_end)
        sds = SDSClient(str(self.settings.archive_dir), sds_type=self.settings.ingest.sds_type)
        st = Stream()
        for pattern in sub.filters.get("channels", []):
            net, sta, loc, cha = pattern.split(".")
            st += sds.get_waveforms(net, sta, loc, cha, t0, t1)
        st.trim(t0, t1, nearest_sample=False)
        st.traces = [tr for tr in st if tr.stats.npts > 0
                     and any(fnmatch.fnmatchcase(tr.id, pat) for pat in sub.filters.get("channels", []))]
        if not len(st):
            return None
        buf = io.BytesIO()
        for tr in st:
            tr.stats.pop("mseed", None)
            tr.write(buf, format="MSEED", reclen=self.settings.ingest.record_length)
        data = buf.getvalue()
        doc = _envelope(sub, "station_data", p) | {"channels": sorted({tr.id for tr in st}), "traces": len(st)}
        subject = f"[{self.agency}] station data {_iso(p.window_start)[:16]} - {_iso(p.window_end)[:16]}"
        cap = self.settings.subscriptions.max_station_data_bytes
        if len(data) > cap:
            base = self.settings.subscriptions.service_url.rstrip("/")
            url = (f"{base}/fdsnws/dataselect/1/query?starttime={_iso(p.window_start)}&endtime={_iso(p.window_end)}"
                   if base else "")
            doc |= {"bytes": len(data), "too_large": True, "url": url}
            return Outgoing("", "station_data", doc, subject,
                            f"{len(st)} traces ({len(data)} bytes, over the limit of {cap}); fetch them from "
                            f"{url or 'fdsnws-dataselect'}\n")
        doc |= {"media_type": "application/vnd.fdsn.mseed", "content_base64": base64.b64encode(data).decode()}
        return Outgoing("", "station_data", doc, subject,
                        f"{len(st)} traces of {', '.join(doc['channels'])}, attached as miniSEED.\n",
                        (f"{self.stem()}.mseed", data, "application", "vnd.fdsn.mseed"))


# --------------------------------------------------------------------------- entry point
def deliver_product(settings, product: str, start, end, version: int | None = None, *,
                    sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Send a product version (default: the newest) of window [start, end) to its subscribers.

    Safe to re-run: deliveries already made are not repeated, failed ones are tried again.
    Returns counts: ``delivered`` (this run), ``already`` (earlier runs), ``failed``, ``skipped``.
    :raises FileNotFoundError: no such product version.
    """
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.products import ProductKey, select_version

    url = settings.database_url
    start, end = UTCDateTime(start), UTCDateTime(end)
    key = ProductKey(product, float(start.timestamp), float(end.timestamp))
    ensure_schema(url)
    cfg = settings.subscriptions
    counts = {"delivered": 0, "already": 0, "failed": 0, "skipped": 0}
    errors: list[str] = []
    http = None  # one HTTP client (connection pool) for the webhooks of this run
    try:
        with session_scope(url) as session:
            prod = select_version(session, key, version, label=f"{product} {start} – {end}",
                                  missing=f"no {product} product for {start} – {end}")
            subs = [(s, u) for s, u in log_table.active_subscriptions(session) if product in (s.products or [])]
            builder = _Builder(settings, prod, session)
            for sub, user in subs:
                if not user.active:
                    continue
                need = "waveforms" if sub.kind == "station_data" else product
                dec = decide(settings.access, (user.role,), need)
                items: list[Outgoing] = []
                reason = ""
                if sub.kind == "alert" and dec.allowed:
                    items = builder.alert_deliveries(sub, public_only=not dec.full)
                elif not dec.full:
                    reason = f"role {user.role} may not read {need} ([access])"
                elif sub.kind == "bulletin":
                    empty = (sub.filters or {}).get("empty") or EMPTY_CHOICES[0]
                    if builder.events() or empty == "each":
                        items = [builder.bulletin_delivery(sub)]
                    elif empty == "skip":
                        reason = "no events in the window (subscription option empty = skip)"
                    elif said := _said_no_events(url, sub.id, prod):
                        reason = f"no events in the window; said once already for {said} (empty = once)"
                    else:
                        items = [builder.no_events_delivery(sub)]
                elif sub.kind == "station_data":
                    got = builder.station_data_delivery(sub)
                    items = [got] if got is not None else []
                    reason = "" if got is not None else "no waveforms of the subscribed channels in the window"
                if reason:
                    did = delivery_id(sub.id, prod.type, prod.window_start, prod.window_end, prod.version)
                    if _claim(url, sub.id, did, prod, ""):
                        _finish(url, did, 0, None, reason, status="skipped")
                        counts["skipped"] += 1
                    continue
                for out in items:
                    did = delivery_id(sub.id, prod.type, prod.window_start, prod.window_end, prod.version, out.item)
                    if not _claim(url, sub.id, did, prod, out.item):
                        counts["already"] += 1
                        continue
                    out.document["delivery_id"] = did
                    if sub.channel == "webhook":
                        body = json.dumps(out.document, sort_keys=True, separators=(",", ":")).encode()

                        if http is None:
                            import httpx

                            http = httpx.Client(timeout=cfg.timeout_s)

                        def attempt(body=body, did=did, kind=out.kind):
                            send_webhook(cfg, sub.target, sub.secret, did, kind, body, client=http)
                            return len(body)
                    else:
                        def attempt(did=did, out=out):
                            return send_email(cfg, sub.target, did, out)
                    fault_point("distribute.claimed")  # the row says sending, nothing sent yet
                    n, nbytes, err = with_retries(cfg, attempt, sleep)
                    fault_point("distribute.sent")  # the receiver has it, the row still says sending
                    _finish(url, did, n, nbytes, err)
                    fault_point("distribute.recorded")
                    if nbytes is None:
                        counts["failed"] += 1
                        errors.append(f"subscription {sub.id} ({sub.channel} {sub.target}): {err}")
                        log.warning("delivery %s of subscription %d failed after %d attempt(s): %s", did, sub.id, n, err)
                    else:
                        counts["delivered"] += 1
            summary = {"product": prod.type, "window": [str(start), str(end)], "version": prod.version,
                       "subscriptions": len(subs), **counts}
    finally:
        if http is not None:
            http.close()
    if errors:
        summary["errors"] = errors[:20]
    return summary


def retry_failed(settings, *, sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Run :func:`deliver_product` again for every product version that has a ``failed`` delivery
    (``idc subscriptions retry``; what to schedule when receivers were down)."""
    from obspy import UTCDateTime

    from pipeline.store.db import ensure_schema

    ensure_schema(settings.database_url)
    todo = log_table.failed_versions(settings.database_url)
    return [deliver_product(settings, p, UTCDateTime(ws), UTCDateTime(we), v, sleep=sleep) for p, ws, we, v in todo]
