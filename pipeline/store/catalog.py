"""obspy ``Catalog`` ⇄ CSS3.0-style rows (event, origin, origerr, arrival, assoc, netmag, stamag).

Conventions of the mapping (CSS3.0 / NNSA KB Core, see REFERENCE.md §10.2):

* ``arrival`` holds the pick: time, iphase (phase hint), azimuth = measured **backazimuth**
  (deg), slow = horizontal slowness (s/deg), amp (nm, instrument corrected) and per (s) of the
  body-wave amplitude, snr, deltim = time uncertainty (s).
* ``assoc`` holds the arrival's role in an origin: phase, delta (deg), esaz (event→station
  azimuth, deg), seaz (station→event azimuth), timeres/azres/slores residuals and the defining
  flags timedef/azdef/slodef ("d"/"n") taken from obspy's ``time_weight`` /
  ``backazimuth_weight`` / ``horizontal_slowness_weight`` (> 0 = defining).
* ``origerr``: smajax/sminax (km) and strike (deg) of the 90 % ellipse, sdepth (km), stime (s),
  sdobs (RMS, s), conf (0.9).
* ``amplitude`` (the IDC's CSS3.0 extension table): every obspy ``Amplitude`` of the event, nm,
  with its type (``A5/2``, ``AML`` Wood-Anderson, ``AMs`` ...), period, time read and window;
  ``arrival.amp``/``per`` repeat the body-wave amplitude as CSS3.0 has it.
* ``netmag``/``stamag``: network and station magnitudes; the station magnitude's ampid links it
  to the amplitude it used (and arid to that amplitude's arrival).

obspy keeps depth in metres and amplitudes in SI units (m); the store keeps km and nm.
"""
from __future__ import annotations

from collections import defaultdict

from obspy import UTCDateTime
from obspy.core.event import (
    Amplitude,
    Arrival,
    Catalog,
    CreationInfo,
    Event,
    EventDescription,
    Magnitude,
    Origin,
    OriginQuality,
    OriginUncertainty,
    Pick,
    QuantityError,
    ResourceIdentifier,
    StationMagnitude,
    StationMagnitudeContribution,
    TimeWindow,
    WaveformStreamID,
)
from obspy.geodetics import gps2dist_azimuth
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from pipeline.store import models as m

AUTH = "idc-pipeline"


def _f(x) -> float | None:
    return None if x is None else float(x)


def _err(q) -> float | None:
    return None if q is None or q.uncertainty is None else float(q.uncertainty)


# ----------------------------------------------------------------- rows -> obspy objects (one mapping)
# Used by :func:`load_catalog` and by the fdsnws-event service (which names its resources differently).
_ONSET = {"i": "impulsive", "e": "emergent", "q": "questionable"}


def origin_from_row(o: m.Origin, e: m.Origerr | None, rid: str, mode: str, agency: str, author: str) -> Origin:
    """Origin (with method, depth type, time/depth errors and 90 % ellipse) of an origin/origerr row."""
    org = Origin(resource_id=ResourceIdentifier(rid), time=UTCDateTime(o.time), latitude=o.lat, longitude=o.lon,
                 depth=o.depth * 1000.0, evaluation_mode=mode,
                 evaluation_status="reviewed" if mode == "manual" else "preliminary",
                 creation_info=CreationInfo(agency_id=agency, author=author))
    if o.algorithm:
        org.method_id = ResourceIdentifier(f"smi:idc-pipeline/method/{o.algorithm}")
    if o.dtype == "G":
        org.depth_type = "operator assigned"
    elif o.dtype:
        org.depth_type = "from location"
    if e is not None:
        if e.stime is not None:
            org.time_errors = QuantityError(uncertainty=e.stime)
        if e.sdepth is not None:
            org.depth_errors = QuantityError(uncertainty=e.sdepth * 1000.0)
        if e.smajax is not None:
            org.origin_uncertainty = OriginUncertainty(
                max_horizontal_uncertainty=e.smajax * 1000.0, min_horizontal_uncertainty=(e.sminax or 0.0) * 1000.0,
                azimuth_max_horizontal_uncertainty=e.strike, confidence_level=(e.conf or 0.9) * 100.0,
                preferred_description="uncertainty ellipse")
    return org


def pick_from_arrival(ar: m.Arrival, rid: str, mode: str, agency: str) -> Pick:
    """Pick (time, stream, phase hint, backazimuth, slowness and their errors, onset) of an arrival row."""
    pick = Pick(resource_id=ResourceIdentifier(rid), time=UTCDateTime(ar.time),
                waveform_id=WaveformStreamID(ar.net or None, ar.sta, None, ar.chan or None),
                phase_hint=ar.iphase or None, evaluation_mode=mode, backazimuth=ar.azimuth,
                horizontal_slowness=ar.slow, creation_info=CreationInfo(agency_id=agency, author=AUTH))
    if ar.deltim is not None:
        pick.time_errors = QuantityError(uncertainty=ar.deltim)
    if ar.delaz is not None:
        pick.backazimuth_errors = QuantityError(uncertainty=ar.delaz)
    if ar.delslo is not None:
        pick.horizontal_slowness_errors = QuantityError(uncertainty=ar.delslo)
    if ar.qual:
        pick.onset = _ONSET.get(ar.qual)
    return pick


def amplitude_from_arrival(ar: m.Arrival, rid: str, pick: Pick) -> Amplitude | None:
    """The body-wave amplitude (nm in the store → m) of an arrival row, or None."""
    if ar.amp is None:
        return None
    return Amplitude(resource_id=ResourceIdentifier(rid), generic_amplitude=ar.amp * 1e-9, type="A5/2", unit="m",
                     period=ar.per, snr=ar.snr, pick_id=pick.resource_id, waveform_id=pick.waveform_id,
                     magnitude_hint="mb")


def amplitude_from_row(r: m.Amplitude, rid: str, pick: Pick | None) -> Amplitude:
    """Amplitude (nm in the store → m) of an ``amplitude`` row, linked to ``pick`` when given."""
    amp = Amplitude(resource_id=ResourceIdentifier(rid),
                    generic_amplitude=r.amp * 1e-9 if r.units == "nm" else r.amp,
                    type=r.amptype or None, unit="m" if r.units == "nm" else "other", period=r.per, snr=r.snr,
                    magnitude_hint=r.maghint or None,
                    pick_id=pick.resource_id if pick is not None else None,
                    waveform_id=pick.waveform_id if pick is not None else
                    WaveformStreamID(r.net or None, r.sta or None, None, r.chan or None))
    if r.amptime is not None:
        begin = r.amptime - r.start_time if r.start_time is not None else 0.0
        end = (r.start_time + r.duration - r.amptime) if r.start_time is not None and r.duration is not None else 0.0
        amp.time_window = TimeWindow(reference=UTCDateTime(r.amptime), begin=max(begin, 0.0), end=max(end, 0.0))
    return amp


def amplitude_row(a: Amplitude, product_id: int, arid: int | None, wid, orid: int | None = None) -> m.Amplitude:
    """The ``amplitude`` row of an obspy Amplitude (SI metres → nm; other units kept as given)."""
    tw = a.time_window
    ref = float(tw.reference.timestamp) if tw is not None and tw.reference is not None else None
    begin = tw.begin if tw is not None and tw.begin is not None else None
    end = tw.end if tw is not None and tw.end is not None else None
    metres = a.unit in (None, "m")
    return m.Amplitude(product_id=product_id, arid=arid, orid=orid, net=(wid.network_code or "")[:8] if wid else "",
                       sta=(wid.station_code or "")[:8] if wid else "", chan=(wid.channel_code or "")[:8] if wid else "",
                       amp=a.generic_amplitude * 1e9 if metres else a.generic_amplitude, per=_f(a.period),
                       snr=_f(a.snr), amptime=ref,
                       start_time=(ref - begin) if ref is not None and begin is not None else None,
                       duration=(begin + end) if begin is not None and end is not None else None,
                       amptype=(a.type or "")[:8], units="nm" if metres else (a.unit or "")[:15],
                       maghint=(a.magnitude_hint or "")[:8], auth=AUTH)


def arrival_from_assoc(a: m.Assoc, ar: m.Arrival, rid: str, pick: Pick) -> Arrival:
    """Arrival (phase, distance, azimuth, residuals, defining weights) of an assoc row."""
    return Arrival(resource_id=ResourceIdentifier(rid), pick_id=pick.resource_id, phase=a.phase or ar.iphase,
                   distance=a.delta, azimuth=a.esaz, time_residual=a.timeres,
                   time_weight=1.0 if a.timedef == "d" else 0.0, backazimuth_residual=a.azres,
                   backazimuth_weight=1.0 if a.azdef == "d" else 0.0, horizontal_slowness_residual=a.slores,
                   horizontal_slowness_weight=1.0 if a.slodef == "d" else 0.0)


def origin_quality(o: m.Origin, e: m.Origerr | None, pairs) -> OriginQuality:
    """OriginQuality from the origin row and its ``(assoc, arrival)`` pairs."""
    pairs = list(pairs)
    dists = [a.delta for a, _ in pairs if a.delta is not None]
    esazs = [a.esaz for a, _ in pairs if a.esaz is not None]
    return OriginQuality(associated_phase_count=o.nass, used_phase_count=o.ndef,
                         associated_station_count=len({ar.sta for _, ar in pairs}),
                         used_station_count=len({ar.sta for a, ar in pairs if a.timedef == "d"}),
                         standard_error=e.sdobs if e is not None else None,
                         minimum_distance=min(dists) if dists else None,
                         maximum_distance=max(dists) if dists else None,
                         azimuthal_gap=azimuthal_gap(esazs))


def magnitude_from_netmag(n: m.Netmag, rid: str, origin_id, mode: str, agency: str, author: str) -> Magnitude:
    mag = Magnitude(resource_id=ResourceIdentifier(rid), mag=n.magnitude, magnitude_type=n.magtype,
                    station_count=n.nsta, origin_id=origin_id, evaluation_mode=mode,
                    creation_info=CreationInfo(agency_id=agency, author=author))
    if n.uncertainty is not None:
        mag.mag_errors = QuantityError(uncertainty=n.uncertainty)
    return mag


def station_magnitude_from_row(s: m.Stamag, rid: str, origin_id, pick: Pick | None, amp: Amplitude | None):
    """``(StationMagnitude, StationMagnitudeContribution)`` of a stamag row."""
    sm = StationMagnitude(resource_id=ResourceIdentifier(rid), mag=s.magnitude, station_magnitude_type=s.magtype,
                          origin_id=origin_id,
                          waveform_id=pick.waveform_id if pick else WaveformStreamID(station_code=s.sta))
    if amp is not None:
        sm.amplitude_id = amp.resource_id
    if s.uncertainty is not None:
        sm.mag_errors = QuantityError(uncertainty=s.uncertainty)
    return sm, StationMagnitudeContribution(station_magnitude_id=sm.resource_id, residual=s.magres,
                                            weight=1.0 if s.magdef == "d" else 0.0)


class EventAmplitudes:
    """The amplitudes of one event as read back, and which one a station magnitude used.

    From the ``amplitude`` rows of each arrival; for products written before those rows existed
    (migration 0007), the arrival's own ``amp``/``per`` as its A5/2 amplitude.

    :param rid: ``rid(key) -> resource id`` of a new amplitude, called once per amplitude made;
        ``key`` is the row's ampid, or the arrival's arid for an amplitude from the arrival row.
    """

    def __init__(self, rid):
        self._rid = rid
        self.amplitudes: list[Amplitude] = []
        self._by_ampid: dict[int, Amplitude] = {}
        self._by_arid: dict[int, Amplitude] = {}

    def add_arrival(self, ar: m.Arrival, pick: Pick, rows) -> None:
        rows = list(rows)
        if rows:
            for r in rows:
                amp = amplitude_from_row(r, self._rid(r.ampid), pick)
                self.amplitudes.append(amp)
                self._by_ampid[r.ampid] = amp
                if r.amptype == "A5/2" or ar.arid not in self._by_arid:
                    self._by_arid[ar.arid] = amp
            return
        if ar.amp is not None:
            amp = amplitude_from_arrival(ar, self._rid(ar.arid), pick)
            self.amplitudes.append(amp)
            self._by_arid[ar.arid] = amp

    def add_unlinked(self, rows) -> None:
        """Amplitudes of the event measured on no arrival (kept with their stream)."""
        for r in rows:
            amp = amplitude_from_row(r, self._rid(r.ampid), None)
            self.amplitudes.append(amp)
            self._by_ampid[r.ampid] = amp

    def for_stamag(self, s: m.Stamag) -> Amplitude | None:
        if s.ampid is not None:
            return self._by_ampid.get(s.ampid)
        return self._by_arid.get(s.arid) if s.arid else None


def store_catalog(session: Session, product: m.Product, catalog: Catalog) -> dict:
    """Write ``catalog`` as rows of ``product`` (which the caller created or cleared)."""
    n_arr = n_mag = 0
    for ev in catalog:
        origin = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if origin is None:
            continue
        row_ev = m.Event(product_id=product.id, public_id=str(ev.resource_id), auth=AUTH,
                         evname=(ev.event_descriptions[0].text if ev.event_descriptions else "")[:64])
        session.add(row_ev)
        session.flush()
        q = origin.quality or OriginQuality()
        row_or = m.Origin(product_id=product.id, evid=row_ev.evid, lat=origin.latitude, lon=origin.longitude,
                          depth=(origin.depth or 0.0) / 1000.0, time=float(origin.time.timestamp),
                          nass=q.associated_phase_count or len(origin.arrivals),
                          ndef=(q.used_phase_count if q.used_phase_count is not None else
                                sum(1 for a in origin.arrivals if (a.time_weight or 0) > 0)),
                          dtype={"operator assigned": "G", "from location": "f", "constrained by depth phases": "D",
                                 "from moment tensor inversion": "f", "from modeling": "f",
                                 "other": "A"}.get(origin.depth_type or "", "f" if origin.depth_type else ""),
                          etype="", algorithm=(str(origin.method_id).split("/")[-1] if origin.method_id else "")[:32],
                          auth=AUTH)
        session.add(row_or)
        session.flush()
        row_ev.prefor = row_or.orid
        ou = origin.origin_uncertainty
        session.add(m.Origerr(
            orid=row_or.orid, product_id=product.id,
            smajax=_f(ou.max_horizontal_uncertainty / 1000.0) if ou and ou.max_horizontal_uncertainty is not None else None,
            sminax=_f(ou.min_horizontal_uncertainty / 1000.0) if ou and ou.min_horizontal_uncertainty is not None else None,
            strike=_f(ou.azimuth_max_horizontal_uncertainty) if ou else None,
            sdepth=_f(origin.depth_errors.uncertainty / 1000.0) if origin.depth_errors.uncertainty is not None else None,
            stime=_err(origin.time_errors), sdobs=_f(q.standard_error),
            conf=(ou.confidence_level / 100.0) if ou and ou.confidence_level else 0.9))
        picks = {str(p.resource_id): p for p in ev.picks}
        amps_by_pick = defaultdict(list)
        for a in ev.amplitudes:
            if a.pick_id is not None:
                amps_by_pick[str(a.pick_id)].append(a)
        arid_of_pick: dict[str, int] = {}
        for arr in origin.arrivals:
            pick = picks.get(str(arr.pick_id))
            if pick is None:
                continue
            wid = pick.waveform_id or WaveformStreamID()
            mb_amp = next((a for a in amps_by_pick.get(str(pick.resource_id), [])
                           if (a.type or "").upper() in ("A5/2", "AMB", "A")), None)
            row_ar = m.Arrival(product_id=product.id, net=wid.network_code or "", sta=wid.station_code or "",
                               chan=wid.channel_code or "", time=float(pick.time.timestamp),
                               iphase=(pick.phase_hint or arr.phase or "")[:8], stype="",
                               deltim=_err(pick.time_errors), azimuth=_f(pick.backazimuth),
                               delaz=_err(pick.backazimuth_errors), slow=_f(pick.horizontal_slowness),
                               delslo=_err(pick.horizontal_slowness_errors),
                               amp=(mb_amp.generic_amplitude * 1e9) if mb_amp and mb_amp.generic_amplitude else None,
                               per=_f(mb_amp.period) if mb_amp else None,
                               snr=_f(mb_amp.snr) if mb_amp else None,
                               fm=(pick.polarity or "")[:1].replace("u", "c").replace("p", "c"),
                               qual={"impulsive": "i", "emergent": "e", "questionable": "q"}.get(pick.onset or "", ""),
                               auth=AUTH)
            session.add(row_ar)
            session.flush()
            arid_of_pick[str(pick.resource_id)] = row_ar.arid
            seaz = None
            if arr.azimuth is not None:
                seaz = (arr.azimuth + 180.0) % 360.0
            session.add(m.Assoc(arid=row_ar.arid, orid=row_or.orid, product_id=product.id, sta=row_ar.sta,
                                phase=(arr.phase or "")[:8], delta=_f(arr.distance), esaz=_f(arr.azimuth),
                                seaz=seaz, timeres=_f(arr.time_residual),
                                timedef="d" if (arr.time_weight or 0) > 0 else "n",
                                azres=_f(arr.backazimuth_residual),
                                azdef="d" if (arr.backazimuth_weight or 0) > 0 else "n",
                                slores=_f(arr.horizontal_slowness_residual),
                                slodef="d" if (arr.horizontal_slowness_weight or 0) > 0 else "n",
                                wgt=_f(arr.time_weight), vmodel=(str(origin.earth_model_id).split("/")[-1]
                                                                 if origin.earth_model_id else "")[:32]))
            n_arr += 1
        # every amplitude of the stored arrivals' picks, and those measured on no pick
        amp_rows = {}
        for a in ev.amplitudes:
            if a.generic_amplitude is None:
                continue
            pid = str(a.pick_id) if a.pick_id is not None else None
            if pid is not None and pid not in arid_of_pick:
                continue  # a pick that is not one of the preferred origin's arrivals
            wid = a.waveform_id or (picks[pid].waveform_id if pid in picks else None)
            amp_rows[str(a.resource_id)] = amplitude_row(a, product.id, arid_of_pick.get(pid) if pid else None,
                                                         wid, row_or.orid)
        session.add_all(amp_rows.values())
        session.flush()  # one flush gives every row its ampid
        ampid_of = {rid: row.ampid for rid, row in amp_rows.items()}
        stamags = {str(sm.resource_id): sm for sm in ev.station_magnitudes}
        amps = {str(a.resource_id): a for a in ev.amplitudes}
        for mag in ev.magnitudes:
            row_nm = m.Netmag(product_id=product.id, orid=row_or.orid, evid=row_ev.evid,
                              magtype=(mag.magnitude_type or "")[:8],
                              nsta=(mag.station_count if mag.station_count is not None
                                    else len(mag.station_magnitude_contributions)),
                              magnitude=mag.mag, uncertainty=_err(mag.mag_errors), auth=AUTH)
            session.add(row_nm)
            session.flush()
            n_mag += 1
            mt = (mag.magnitude_type or "").lower()
            if mt == "mb":
                row_or.mb = mag.mag
            elif mt.startswith("ms"):
                row_or.ms = mag.mag
            elif mt.startswith("ml"):
                row_or.ml = mag.mag
            for contrib in mag.station_magnitude_contributions:
                sm = stamags.get(str(contrib.station_magnitude_id))
                if sm is None:
                    continue
                amp = amps.get(str(sm.amplitude_id)) if sm.amplitude_id else None
                arid = arid_of_pick.get(str(amp.pick_id)) if amp is not None and amp.pick_id else None
                ampid = ampid_of.get(str(sm.amplitude_id)) if sm.amplitude_id else None
                wid = sm.waveform_id or WaveformStreamID()
                session.add(m.Stamag(product_id=product.id, magid=row_nm.magid, ampid=ampid,
                                     sta=wid.station_code or "", arid=arid, orid=row_or.orid, evid=row_ev.evid,
                                     phase="", magtype=(sm.station_magnitude_type or mag.magnitude_type or "")[:8],
                                     magnitude=sm.mag, uncertainty=_err(sm.mag_errors), magres=contrib.residual,
                                     magdef="d" if (contrib.weight is None or contrib.weight > 0) else "n",
                                     auth=AUTH))
    session.flush()
    return {"events": len(catalog), "arrivals": n_arr, "magnitudes": n_mag}


def resource_prefix(ptype: str, version: int) -> str:
    """The QuakeML resource-id prefix of the objects of one product version."""
    return f"smi:idc-pipeline/{ptype}/v{version}"


def event_public_id(ptype: str, version: int, evid: int, public_id: str | None) -> str:
    """The resource id :func:`load_catalog` gives the event row ``evid``: its stored public id,
    else ``<prefix>/event/<evid>``."""
    return public_id or f"{resource_prefix(ptype, version)}/event/{evid}"


def event_ranks(session: Session, product_ids) -> dict[tuple[int, str], tuple[str, float, float, int]]:
    """``(product id, event resource id)`` → ``(type, window start, window end, rank)`` of every
    event of the products, rank 1-based by (origin time, orid): what the public event ids of
    fdsnws-event are made of (:func:`pipeline.store.products.event_id`). Only products that
    are the newest version of their window (the ones fdsnws-event serves) are answered."""
    E, O, P = m.Event, m.Origin, m.Product
    out: dict[tuple[int, str], tuple[str, float, float, int]] = {}
    pids = sorted({int(p) for p in product_ids if p is not None})
    newer = aliased(P)
    superseded = set()
    for i in range(0, len(pids), 500):
        superseded.update(session.scalars(
            select(P.id).where(P.id.in_(pids[i:i + 500])).where(exists().where(
                newer.type == P.type, newer.window_start == P.window_start, newer.window_end == P.window_end,
                newer.version > P.version))))
    pids = [p for p in pids if p not in superseded]
    for i in range(0, len(pids), 500):
        q = (select(P.id, P.type, P.version, P.window_start, P.window_end, E.evid, E.public_id).select_from(E)
             .join(O, O.orid == E.prefor).join(P, P.id == E.product_id)
             .where(E.product_id.in_(pids[i:i + 500])).order_by(E.product_id, O.time, O.orid))
        rank, last = 0, None
        for pid, ptype, version, ws, we, evid, pub in session.execute(q):
            rank = rank + 1 if pid == last else 1
            last = pid
            out[(pid, event_public_id(ptype, version, evid, pub))] = (ptype, ws, we, rank)
    return out


def event_resource_id(session: Session, evid: int) -> str | None:
    """The resource id :func:`load_catalog` gives the event row ``evid`` (None when unknown)."""
    row = session.execute(select(m.Product.type, m.Product.version, m.Event.public_id)
                          .join(m.Product, m.Product.id == m.Event.product_id).where(m.Event.evid == evid)).first()
    return None if row is None else event_public_id(row.type, row.version, evid, row.public_id)


#: IMS1.0 event type codes (``origin.etype``, REFERENCE.md §3.5) → QuakeML (type, certainty)
ETYPE_QUAKEML = {
    "uk": ("not reported", None), "ke": ("earthquake", "known"), "se": ("earthquake", "suspected"),
    "kr": ("rock burst", "known"), "sr": ("rock burst", "suspected"), "ki": ("induced or triggered event", "known"),
    "si": ("induced or triggered event", "suspected"), "km": ("mining explosion", "known"),
    "sm": ("mining explosion", "suspected"), "kx": ("experimental explosion", "known"),
    "sx": ("experimental explosion", "suspected"), "kn": ("nuclear explosion", "known"),
    "sn": ("nuclear explosion", "suspected"), "ls": ("landslide", "known"), "kh": ("chemical explosion", "known"),
    "sh": ("chemical explosion", "suspected"),
}
#: the reviewed product types (evaluation mode "manual"; the others are "automatic")
REVIEWED_TYPES = ("REB", "SEB", "SSEB")


def _in_chunks(session: Session, stmt_of, ids, n: int = 500):
    ids = list(ids)
    for i in range(0, len(ids), n):
        yield from session.scalars(stmt_of(ids[i:i + n]))


class EventRows:
    """The rows of some events, read once: origins, origerr, the (assoc, arrival) pairs of each
    origin (the arrival rows), netmag, stamag and amplitude rows. Read either for a whole
    product (:meth:`of_product`, with its event rows) or for given origins (:meth:`of_origins`);
    turned into obspy events by :func:`event_from_rows` (:func:`load_catalog`, fdsnws-event) or
    read as they are by the table exports (:mod:`pipeline.alerts.open_data`): the one reader of
    the arrival rows of an origin (:meth:`pairs`)."""

    def __init__(self):
        self.origins: dict[int, m.Origin] = {}
        self.errs: dict[int, m.Origerr] = {}
        self.arrivals: dict[int, m.Arrival] = {}
        self.assocs: dict[int, list[m.Assoc]] = defaultdict(list)       # orid → by arid
        self.netmags: dict[int, list[m.Netmag]] = defaultdict(list)     # orid → by magid
        self.stamags: dict[int, list[m.Stamag]] = defaultdict(list)     # magid → by id
        self.amplitudes: dict[int, list[m.Amplitude]] = defaultdict(list)  # arid → by ampid
        self.unlinked: dict[int, list[m.Amplitude]] = defaultdict(list)    # orid → by ampid (no arrival)
        self.events: list[m.Event] = []                                    # by evid (of_product only)

    def pairs(self, orid: int) -> list[tuple[m.Assoc, m.Arrival]]:
        """The ``(assoc, arrival)`` rows of origin ``orid`` (by arid; assocs whose arrival row is
        missing are left out)."""
        return [(a, self.arrivals[a.arid]) for a in self.assocs.get(orid, []) if a.arid in self.arrivals]

    @classmethod
    def of_product(cls, session: Session, product_id: int, *, arrivals: bool = True,
                   details: bool = True) -> "EventRows":
        """Every row of product ``product_id`` (the event rows by evid); the arrival and assoc
        rows only with ``arrivals``, the station magnitudes and amplitudes only with ``details``."""
        r = cls()
        r.events = list(session.scalars(select(m.Event).where(m.Event.product_id == product_id)
                                        .order_by(m.Event.evid)))
        r.origins = {o.orid: o for o in session.scalars(select(m.Origin).where(m.Origin.product_id == product_id))}
        r.errs = {e.orid: e for e in session.scalars(select(m.Origerr).where(m.Origerr.product_id == product_id))}
        for n in session.scalars(select(m.Netmag).where(m.Netmag.product_id == product_id)
                                 .order_by(m.Netmag.magid)):
            r.netmags[n.orid].append(n)
        if arrivals:
            r.read_arrivals(session, product_id)
        if not details:
            return r
        for s in session.scalars(select(m.Stamag).where(m.Stamag.product_id == product_id).order_by(m.Stamag.id)):
            r.stamags[s.magid].append(s)
        for a in session.scalars(select(m.Amplitude).where(m.Amplitude.product_id == product_id)
                                 .order_by(m.Amplitude.ampid)):
            if a.arid is None:
                r.unlinked[a.orid].append(a)
            else:
                r.amplitudes[a.arid].append(a)
        return r

    def read_arrivals(self, session: Session, product_id: int) -> None:
        """The arrival and assoc rows of product ``product_id`` (for :meth:`pairs`)."""
        self.arrivals = {a.arid: a for a in session.scalars(select(m.Arrival)
                                                            .where(m.Arrival.product_id == product_id))}
        self.assocs = defaultdict(list)
        for a in session.scalars(select(m.Assoc).where(m.Assoc.product_id == product_id).order_by(m.Assoc.arid)):
            self.assocs[a.orid].append(a)

    @classmethod
    def of_origins(cls, session: Session, *, orids=(), evids=(), details: bool = True) -> "EventRows":
        """The rows of origins ``orids`` and of every origin of events ``evids``; the station
        magnitudes and amplitudes only with ``details``."""
        r = cls()
        O = m.Origin
        origins = []
        if evids:
            origins += session.scalars(select(O).where(O.evid.in_(list(evids))).order_by(O.orid))
        if orids:
            origins += session.scalars(select(O).where(O.orid.in_(list(orids))))
        r.origins = {o.orid: o for o in origins}
        ids = list(r.origins)
        r.errs = {e.orid: e for e in session.scalars(select(m.Origerr).where(m.Origerr.orid.in_(ids)))}
        for n in session.scalars(select(m.Netmag).where(m.Netmag.orid.in_(ids)).order_by(m.Netmag.magid)):
            r.netmags[n.orid].append(n)
        for a in session.scalars(select(m.Assoc).where(m.Assoc.orid.in_(ids)).order_by(m.Assoc.arid)):
            r.assocs[a.orid].append(a)
        arids = [a.arid for v in r.assocs.values() for a in v]
        r.arrivals = {ar.arid: ar for ar in _in_chunks(session, lambda part: select(m.Arrival)
                                                       .where(m.Arrival.arid.in_(part)), arids)}
        if details:
            magids = [n.magid for v in r.netmags.values() for n in v]
            for s in session.scalars(select(m.Stamag).where(m.Stamag.magid.in_(magids)).order_by(m.Stamag.id)):
                r.stamags[s.magid].append(s)
            for a in _in_chunks(session, lambda part: select(m.Amplitude).where(m.Amplitude.arid.in_(part))
                                .order_by(m.Amplitude.ampid), arids):
                r.amplitudes[a.arid].append(a)
            for a in session.scalars(select(m.Amplitude).where(m.Amplitude.arid.is_(None), m.Amplitude.orid.in_(ids))
                                     .order_by(m.Amplitude.ampid)):
                r.unlinked[a.orid].append(a)
        return r


def event_from_rows(rows: EventRows, origins: list, preferred_orid: int, *, rid: str, prefix: str, mode: str,
                    agency: str, evname: str | None = None, etype: str | None = None, numbered: bool = False,
                    arrivals: bool = True, magnitudes: str = "all", magtype: str | None = None,
                    row_authors: bool = False, creation_info: bool = False) -> Event:
    """The obspy Event of ``origins`` (origin rows, the preferred one ``preferred_orid``) from
    ``rows`` — the one mapping of :func:`load_catalog` and fdsnws-event.

    Resource ids under ``prefix``: by database keys (``origin/<orid>``, ``pick/<arid>``,
    ``arrival/<orid>/<arid>``, ``amplitude/<ampid or arid>``, ``magnitude/<magid>``,
    ``stamag/<id>``: :func:`load_catalog`), or with ``numbered`` counted within the event
    (``origin/<k>``, ``pick/<n>``, ``origin/<k>/arrival/<n>``, ``amplitude/<n>``,
    ``magnitude/<n>``, ``stamag/<n>``: fdsnws-event, whose ids must not reveal database keys).
    ``arrivals``: picks, arrivals, amplitudes (else only the quality figures use them);
    ``magnitudes``: ``"all"`` of every origin, or ``"preferred"``: the first of ``magtype`` (any
    type when None) of the preferred origin. The preferred magnitude is the first of the preferred
    origin of ``magtype`` (else the first). ``row_authors``: origins and magnitudes keep the
    ``auth`` of their rows as author; ``etype`` (IMS code) sets the event type and
    ``creation_info`` the event's creation info (fdsnws-event)."""
    ev = Event(resource_id=ResourceIdentifier(rid))
    code = (etype or "").lower()
    if code in ETYPE_QUAKEML and ETYPE_QUAKEML[code][0] != "not reported":
        ev.event_type, ev.event_type_certainty = ETYPE_QUAKEML[code]
    if evname:
        ev.event_descriptions.append(EventDescription(text=evname, type="region name"))
    if creation_info:
        ev.creation_info = CreationInfo(agency_id=agency, author=AUTH)
    npick = 0
    pick_of_arid: dict[int, Pick] = {}
    if numbered:
        seq = iter(range(1, 1 << 62))
        amps = EventAmplitudes(lambda key: f"{prefix}/amplitude/{next(seq)}")
    else:
        amps = EventAmplitudes(lambda key: f"{prefix}/amplitude/{key}")
    mt = magtype.lower() if magtype else None
    for k, o in enumerate(origins, start=1):
        e = rows.errs.get(o.orid)
        org_rid = f"{prefix}/origin/{k}" if numbered else f"{prefix}/origin/{o.orid}"
        org = origin_from_row(o, e, org_rid, mode, agency, (o.auth or AUTH) if row_authors else AUTH)
        pairs = rows.pairs(o.orid)
        for a, ar in pairs if arrivals else ():
            pick = pick_of_arid.get(ar.arid)
            if pick is None:
                npick += 1
                pick = pick_from_arrival(ar, f"{prefix}/pick/{npick}" if numbered else f"{prefix}/pick/{ar.arid}",
                                         mode, agency)
                ev.picks.append(pick)
                pick_of_arid[ar.arid] = pick
                amps.add_arrival(ar, pick, rows.amplitudes.get(ar.arid, ()))
            arr_rid = (f"{org_rid}/arrival/{len(org.arrivals) + 1}" if numbered
                       else f"{prefix}/arrival/{o.orid}/{ar.arid}")
            org.arrivals.append(arrival_from_assoc(a, ar, arr_rid, pick))
        if arrivals:
            amps.add_unlinked(rows.unlinked.get(o.orid, ()))
        org.quality = origin_quality(o, e, pairs)
        ev.origins.append(org)
        if o.orid == preferred_orid:
            ev.preferred_origin_id = org.resource_id
        nms = rows.netmags.get(o.orid, [])
        if magnitudes != "all":
            nms = [] if o.orid != preferred_orid else [n for n in nms if not mt or n.magtype.lower() == mt][:1]
        for n in nms:
            mag_rid = f"{prefix}/magnitude/{len(ev.magnitudes) + 1}" if numbered else f"{prefix}/magnitude/{n.magid}"
            mag = magnitude_from_netmag(n, mag_rid, org.resource_id, mode, agency,
                                        (n.auth or AUTH) if row_authors else AUTH)
            for s in rows.stamags.get(n.magid, []):
                sm, contrib = station_magnitude_from_row(
                    s, f"{prefix}/stamag/{len(ev.station_magnitudes) + 1}" if numbered else f"{prefix}/stamag/{s.id}",
                    org.resource_id, pick_of_arid.get(s.arid) if s.arid else None, amps.for_stamag(s))
                ev.station_magnitudes.append(sm)
                mag.station_magnitude_contributions.append(contrib)
            ev.magnitudes.append(mag)
            if o.orid == preferred_orid and ev.preferred_magnitude_id is None and (
                    not mt or n.magtype.lower() == mt):
                ev.preferred_magnitude_id = mag.resource_id
    ev.amplitudes.extend(amps.amplitudes)
    if ev.preferred_magnitude_id is None and ev.magnitudes:
        ev.preferred_magnitude_id = ev.magnitudes[0].resource_id
    return ev


def load_catalog(session: Session, product: m.Product) -> Catalog:
    """Rebuild an obspy Catalog from the rows of ``product`` (inverse of :func:`store_catalog`)."""
    prefix = resource_prefix(product.type, product.version)
    mode = "manual" if product.type in REVIEWED_TYPES else "automatic"
    cat = Catalog(resource_id=ResourceIdentifier(f"{prefix}/catalog"))
    cat.creation_info = CreationInfo(agency_id="IDC", author=AUTH,
                                     creation_time=UTCDateTime(product.created.timestamp()))
    rows = EventRows.of_product(session, product.id)
    for row_ev in rows.events:
        o = rows.origins.get(row_ev.prefor)
        if o is None:
            continue
        cat.append(event_from_rows(
            rows, [o], o.orid, rid=event_public_id(product.type, product.version, row_ev.evid, row_ev.public_id),
            prefix=prefix, mode=mode, agency="IDC", evname=row_ev.evname))
    return cat


def azimuthal_gap(azimuths: list[float]) -> float | None:
    """Largest gap (deg) between consecutive event→station azimuths."""
    if not azimuths:
        return None
    a = sorted(x % 360.0 for x in azimuths)
    gaps = [b - c for c, b in zip(a, a[1:])] + [a[0] + 360.0 - a[-1]]
    return float(max(gaps))


def distance_azimuth(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float, float]:
    """(distance_km, azimuth 1→2 deg, backazimuth deg) on the WGS84 ellipsoid."""
    d, az, baz = gps2dist_azimuth(lat1, lon1, lat2, lon2)
    return d / 1000.0, az, baz


def store_unassociated(session: Session, product: m.Product, picks) -> int:
    """Unassociated detections as ``arrival`` rows of ``product`` (no assoc): nothing detected
    is dropped from the store."""
    if picks is None or not len(picks):
        return 0
    n = 0
    for r in picks.itertuples():
        amp = getattr(r, "amplitude", None)
        session.add(m.Arrival(product_id=product.id, net=getattr(r, "network", "") or "", sta=r.station,
                              chan=getattr(r, "channel", "") or "", time=float(r.time),
                              iphase=(getattr(r, "phase", "") or "")[:8],
                              deltim=_nan(getattr(r, "time_uncertainty", None)),
                              azimuth=_nan(getattr(r, "backazimuth", None)), slow=_nan(getattr(r, "slowness", None)),
                              amp=_nan(amp), per=_nan(getattr(r, "period", None)), snr=_nan(getattr(r, "snr", None)),
                              auth=AUTH))
        n += 1
    session.flush()
    return n


def _nan(x):
    import math

    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
