/* idc-pipeline web UI: plain JavaScript (no build step, no external assets).
 *
 * Hash routes: #/map, #/bulletins?<fdsnws-event parameters>, #/event/<eventid>, #/stations,
 * #/review, #/login. The API token pasted on the login page is kept in sessionStorage (gone when
 * the tab closes) and sent as "Authorization: Bearer <token>" with every fetch(); it is never put
 * in a URL. Downloads are fetched with the header and saved from a Blob for the same reason.
 */
"use strict";

const TOKEN_KEY = "idc_token";
const CATALOGS = ["SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB"];
const main = document.getElementById("main");
const statusBox = document.getElementById("status");
let whoami = null;

// ------------------------------------------------------------------ helpers
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = token();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

/** fetch() with the token; rejects with the server's error text (FDSN error document or JSON). */
async function api(path, opts) {
  opts = opts || {};
  const resp = await fetch(path, Object.assign({}, opts, {headers: authHeaders(opts.headers)}));
  if (!resp.ok) {
    let text = await resp.text();
    const m = text.match(/^Error \d+: .*$/m);
    if (m) {
      const detail = text.split("\n").slice(1).find(l => l.trim() && !l.startsWith("More Details") &&
                                                      !l.startsWith("Usage") && !l.startsWith("Request"));
      text = m[0] + (detail ? " — " + detail.trim() : "");
    }
    const err = new Error(text || ("HTTP " + resp.status));
    err.status = resp.status;
    throw err;
  }
  return resp;
}

async function apiJSON(path, opts) { return (await api(path, opts)).json(); }

function esc(s) {
  return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g,
    c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function fmt(x, nd) {
  if (x === null || x === undefined || Number.isNaN(x)) return "";
  return nd === undefined ? String(x) : Number(x).toFixed(nd);
}

function shortTime(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d{1,2})\d*Z$/, "$1Z") : ""; }

function say(text, kind) {
  statusBox.textContent = text || "";
  statusBox.className = "status" + (text ? " " + (kind || "ok") : "");
}

function fail(err) { say(err.message || String(err), "error"); }

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const i = h.indexOf("?");
  const path = i < 0 ? h : h.slice(0, i);
  const query = new URLSearchParams(i < 0 ? "" : h.slice(i + 1));
  const parts = path.split("/").map(decodeURIComponent);
  return {page: parts[0] || "map", arg: parts.slice(1).join("/"), query};
}

function depthColour(km) {
  // shallow (< 70 km), intermediate (70-300 km) and deep (> 300 km) earthquakes, the classes of
  // Gutenberg & Richter (1954, "Seismicity of the Earth") used by USGS/ISC maps; the shallow class
  // is split at 35 km (a typical continental crust) to separate crustal events
  if (km === null || km === undefined) return "#888";
  if (km < 35) return "#d7301f";
  if (km < 70) return "#fc8d59";
  if (km < 300) return "#41ab5d";
  return "#2b6cb0";
}

/** 1, 2 or 5 × 10^n nearest below x (scale bars, axis steps). */
function niceNumber(x) {
  const e = Math.pow(10, Math.floor(Math.log10(x))), f = x / e;
  return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * e;
}

/** A graticule step in degrees for a span of about x degrees per step. */
function niceDegrees(x) {
  for (const s of [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45]) if (s >= x) return s;
  return 60;
}

/** Station status on the map (see stationStatus). */
const STATUS_COLOURS = {complete: "#2e8b57", gaps: "#f0a020", nodata: "#d33", unknown: "#fff"};

/** Coverage of each station's channels over [t0, t1] (epoch s) from /ui/api/availability: mean
 * over the station's channels; "complete" ≥ 98 %, "gaps" > 0, "nodata" none or not in the
 * archive's availability table. Sets st.status, st.coverage and st.last (newest sample). */
function stationStatus(stations, channels) {
  const by = {};
  for (const c of channels) {
    const k = c.nslc.split(".").slice(0, 2).join(".");
    (by[k] = by[k] || []).push(c);
  }
  for (const st of stations) {
    const cs = by[st.network + "." + st.station] || [];
    st.coverage = cs.length ? cs.reduce((a, c) => a + c.coverage, 0) / cs.length : 0;
    st.last = cs.length ? Math.max(...cs.map(c => c.last)) : null;
    st.status = st.coverage >= 0.98 ? "complete" : st.coverage > 0 ? "gaps" : "nodata";
  }
}

function magRadius(mag) { return mag === null || mag === undefined ? 3 : Math.max(2.5, 1.6 * mag); }

async function download(path, filename) {
  try {
    say("Preparing " + filename + " …");
    const resp = await api(path);
    if (resp.status === 204) { say("Nothing matches the selection.", "error"); return; }
    const blob = await resp.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    say("Downloaded " + filename + " (" + blob.size + " bytes).");
  } catch (e) { fail(e); }
}

// ------------------------------------------------------------------ who am I
async function refreshWhoami() {
  const box = document.getElementById("whoami");
  try {
    whoami = await apiJSON("/accounts/1/whoami");
  } catch (e) {
    whoami = null;
    if (e.status === 401 && token()) {
      sessionStorage.removeItem(TOKEN_KEY);
      box.textContent = "token refused — public";
      return;
    }
  }
  if (whoami && whoami.authenticated) {
    box.textContent = whoami.name + " (" + whoami.role + (whoami.state ? ", " + whoami.state : "") + ")";
  } else {
    box.textContent = "public";
  }
}

// ------------------------------------------------------------------ filters
const FILTERS = [
  ["catalog", "Catalog", "select"], ["starttime", "Start (UTC)", "text"], ["endtime", "End (UTC)", "text"],
  ["minmagnitude", "Min mag", "number"], ["maxmagnitude", "Max mag", "number"],
  ["mindepth", "Min depth km", "number"], ["maxdepth", "Max depth km", "number"],
  ["minlatitude", "Min lat", "number"], ["maxlatitude", "Max lat", "number"],
  ["minlongitude", "Min lon", "number"], ["maxlongitude", "Max lon", "number"],
];

function filterForm(query, extra) {
  const f = document.createElement("form");
  f.className = "filters";
  f.id = "filters";
  let html = "";
  for (const [name, label, type] of FILTERS) {
    const v = query.get(name) || "";
    if (type === "select") {
      html += `<label>${label}<select name="${name}" id="f-${name}"><option value="">default</option>` +
        CATALOGS.map(c => `<option${c === v ? " selected" : ""}>${c}</option>`).join("") + "</select></label>";
    } else {
      html += `<label>${label}<input name="${name}" id="f-${name}" type="${type === "number" ? "number" : "text"}"` +
        `${type === "number" ? ' step="any"' : ' class="wide" placeholder="YYYY-MM-DDThh:mm:ss"'} value="${esc(v)}"></label>`;
    }
  }
  html += extra || "";
  html += '<button type="submit" id="apply">Apply</button><button type="button" class="secondary" id="clear">Clear</button>';
  f.innerHTML = html;
  return f;
}

function formQuery(form) {
  const q = new URLSearchParams();
  for (const el of form.elements) {
    if (el.name && el.value.trim() !== "") q.set(el.name, el.value.trim());
  }
  return q;
}

// ------------------------------------------------------------------ event map
const coastCache = {};

/** Natural Earth coastlines from the server: 1:110m for the world, 1:50m once zoomed in. */
async function coastlines(res) {
  if (!coastCache[res]) coastCache[res] = apiJSON("/ui/api/coastlines?resolution=" + res).then(d => d.geometry.coordinates);
  return coastCache[res];
}

class EventMap {
  constructor(canvas, tooltip) {
    this.c = canvas; this.tip = tooltip; this.events = []; this.coast = []; this.coast50 = null; this.stations = [];
    this.lon0 = 0; this.lat0 = 0; this.k = 1;  // centre and pixels per degree (equirectangular)
    this.onpick = null;
    this._bind();
  }
  resize() {
    const r = this.c.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.w = r.width; this.h = r.height;
    this.c.width = Math.round(r.width * dpr); this.c.height = Math.round(r.height * dpr);
    this.ctx = this.c.getContext("2d");
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
  world() { this.resize(); this.lon0 = 0; this.lat0 = 0; this.k = Math.min(this.w / 360, this.h / 180); this.draw(); }
  fit() {
    this.resize();
    if (!this.events.length) return this.world();
    let lo = Math.min(...this.events.map(e => e.longitude)), hi = Math.max(...this.events.map(e => e.longitude));
    let la = Math.min(...this.events.map(e => e.latitude)), lb = Math.max(...this.events.map(e => e.latitude));
    const span = Math.max(hi - lo, lb - la, 0.5) * 1.3;  // at least ~70 km: the stations around a swarm
    this.lon0 = (lo + hi) / 2; this.lat0 = (la + lb) / 2;
    this.k = Math.min(this.w / Math.min(span, 360), this.h / Math.min(span, 180));
    this.draw();
  }
  x(lon) { return (lon - this.lon0) * this.k + this.w / 2; }
  y(lat) { return (this.lat0 - lat) * this.k + this.h / 2; }
  zoom(f, px, py) {
    px = px === undefined ? this.w / 2 : px; py = py === undefined ? this.h / 2 : py;
    const lon = this.lon0 + (px - this.w / 2) / this.k, lat = this.lat0 - (py - this.h / 2) / this.k;
    this.k = Math.max(this.w / 720, Math.min(this.k * f, 2000));
    this.lon0 = lon - (px - this.w / 2) / this.k; this.lat0 = lat + (py - this.h / 2) / this.k;
    this.draw();
  }
  shifts() {  // draw copies one world east and west so that panning across the antimeridian works
    const out = [];
    for (const s of [-360, 0, 360]) {
      const a = this.x(-180 + s), b = this.x(180 + s);
      if (b >= 0 && a <= this.w) out.push(s);
    }
    return out;
  }
  draw() {
    const ctx = this.ctx; if (!ctx) return;
    ctx.clearRect(0, 0, this.w, this.h);
    ctx.fillStyle = "#eaf2fa"; ctx.fillRect(0, 0, this.w, this.h);
    const shifts = this.shifts();
    // graticule at a "nice" step giving ~4-8 lines across the view; labelled on the edges (after the rest)
    const step = niceDegrees(Math.min(this.w, this.h) / this.k / 5);
    this.step = step;
    ctx.strokeStyle = "#c9d6e3"; ctx.lineWidth = 0.5; ctx.beginPath();
    const lonA = Math.floor((this.lon0 - this.w / 2 / this.k) / step) * step, lonB = this.lon0 + this.w / 2 / this.k;
    const latA = Math.max(-90, Math.floor((this.lat0 - this.h / 2 / this.k) / step) * step), latB = Math.min(90, this.lat0 + this.h / 2 / this.k);
    for (let lon = lonA; lon <= lonB; lon += step) { ctx.moveTo(this.x(lon), this.y(Math.min(90, latB + step))); ctx.lineTo(this.x(lon), this.y(Math.max(-90, latA - step))); }
    for (let lat = latA; lat <= latB; lat += step) { ctx.moveTo(0, this.y(lat)); ctx.lineTo(this.w, this.y(lat)); }
    ctx.stroke();
    let coast = this.coast;
    if (this.k > 6) {  // zoomed in: the 1:50m coastlines (fetched once)
      if (this.coast50) coast = this.coast50;
      else if (!this._loading50) { this._loading50 = true; coastlines("50m").then(c => { this.coast50 = c; this.draw(); }).catch(() => {}); }
    }
    this.c.dataset.coast = coast === this.coast50 ? "50m" : "110m";
    this.c.dataset.stations = String(this.stations.length);
    ctx.strokeStyle = "#56697d"; ctx.lineWidth = 0.8; ctx.beginPath();
    for (const s of shifts) {
      for (const line of coast) {
        ctx.moveTo(this.x(line[0][0] + s), this.y(line[0][1]));
        for (let i = 1; i < line.length; i++) ctx.lineTo(this.x(line[i][0] + s), this.y(line[i][1]));
      }
    }
    ctx.stroke();
    // stations: triangles coloured by status (STATUS_COLOURS), codes when few enough are in view
    let labels = 0;
    const inView = [];
    for (const s of shifts) {
      for (const st of this.stations) {
        const px = this.x(st.longitude + s), py = this.y(st.latitude);
        if (px < -10 || px > this.w + 10 || py < -10 || py > this.h + 10) continue;
        inView.push([st, px, py]);
      }
    }
    const showCodes = inView.length <= 80;
    ctx.lineWidth = 0.8; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    for (const [st, px, py] of inView) {
      ctx.fillStyle = STATUS_COLOURS[st.status || "unknown"]; ctx.strokeStyle = "#333";
      ctx.beginPath(); ctx.moveTo(px, py - 6); ctx.lineTo(px + 5.2, py + 4); ctx.lineTo(px - 5.2, py + 4); ctx.closePath();
      ctx.fill(); ctx.stroke();
      if (showCodes) {
        ctx.fillStyle = "#1d2733"; ctx.strokeStyle = "rgba(255,255,255,.85)"; ctx.lineWidth = 3;
        ctx.strokeText(st.station, px + 7, py); ctx.fillText(st.station, px + 7, py); ctx.lineWidth = 0.8;
        labels++;
      }
    }
    this.c.dataset.labels = String(labels);
    // largest first so that small events stay visible on top
    const evs = this.events.slice().sort((a, b) => (b.magnitude || 0) - (a.magnitude || 0));
    for (const s of shifts) {
      for (const e of evs) {
        const px = this.x(e.longitude + s), py = this.y(e.latitude);
        if (px < -20 || px > this.w + 20 || py < -20 || py > this.h + 20) continue;
        ctx.beginPath(); ctx.arc(px, py, magRadius(e.magnitude), 0, 2 * Math.PI);
        ctx.fillStyle = depthColour(e.depth_km); ctx.globalAlpha = 0.8; ctx.fill(); ctx.globalAlpha = 1;
        ctx.strokeStyle = e === this.highlight ? "#ffb000" : "#222"; ctx.lineWidth = e === this.highlight ? 3 : 0.7; ctx.stroke();
      }
    }
    this.drawTicks(step);
    this.drawScale();
  }
  drawTicks(step) {
    // latitude labels on the left edge, longitude labels on the bottom edge
    const ctx = this.ctx, nd = step < 1 ? (step < 0.1 ? 2 : 1) : 0;
    ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "#3b4a5a"; ctx.strokeStyle = "rgba(234,242,250,.9)"; ctx.lineWidth = 3;
    let n = 0;
    const latA = Math.ceil((this.lat0 - this.h / 2 / this.k) / step) * step, latB = this.lat0 + this.h / 2 / this.k;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let lat = Math.max(-90, latA); lat <= Math.min(90, latB); lat += step) {
      const t = `${Math.abs(lat).toFixed(nd)}°${lat > 0 ? "N" : lat < 0 ? "S" : ""}`, y = this.y(lat);
      if (y < 10 || y > this.h - 24) continue;
      ctx.strokeText(t, this.w - 4, y); ctx.fillText(t, this.w - 4, y); n++;
    }
    const lonA = Math.ceil((this.lon0 - this.w / 2 / this.k) / step) * step, lonB = this.lon0 + this.w / 2 / this.k;
    ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    for (let lon = lonA; lon <= lonB; lon += step) {
      const x = this.x(lon);
      if (x < 50 || x > this.w - 40) continue;
      const l = ((lon + 540) % 360) - 180;
      const t = `${Math.abs(l).toFixed(nd)}°${l > 0 ? "E" : l < 0 ? "W" : ""}`;
      ctx.strokeText(t, x, this.h - 3); ctx.fillText(t, x, this.h - 3); n++;
    }
    ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";
    this.c.dataset.ticks = String(n);
    this.c.dataset.step = String(step);
  }
  drawScale() {
    // a scale bar along the parallel through the centre (equirectangular: x scale = cos(latitude))
    const kmPerPx = 111.195 * Math.cos(this.lat0 * Math.PI / 180) / this.k;
    if (!(kmPerPx > 0)) return;
    const km = niceNumber(kmPerPx * 120), px = km / kmPerPx, ctx = this.ctx, x0 = 56, y0 = this.h - 24;
    ctx.fillStyle = "rgba(255,255,255,.85)"; ctx.fillRect(x0 - 6, y0 - 16, px + 12, 22);
    ctx.strokeStyle = "#1d2733"; ctx.lineWidth = 1.5; ctx.beginPath();
    ctx.moveTo(x0, y0 - 4); ctx.lineTo(x0, y0); ctx.lineTo(x0 + px, y0); ctx.lineTo(x0 + px, y0 - 4); ctx.stroke();
    ctx.fillStyle = "#1d2733"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center";
    ctx.fillText(`${km >= 1 ? km : km.toFixed(1)} km` + (Math.abs(this.lat0) > 5 ? ` at ${fmt(this.lat0, 0)}°` : ""), x0 + px / 2, y0 - 6);
    ctx.textAlign = "left";
    this.c.dataset.scaleKm = String(km);
    this.c.dataset.scalePx = String(Math.round(px));
  }
  hit(px, py) {
    let best = null, bd = 1e9;
    for (const s of this.shifts()) {
      for (const e of this.events) {
        const d = Math.hypot(this.x(e.longitude + s) - px, this.y(e.latitude) - py);
        if (d <= magRadius(e.magnitude) + 3 && d < bd) { best = e; bd = d; }
      }
    }
    return best;
  }
  hitStation(px, py) {
    for (const s of this.shifts()) {
      for (const st of this.stations) {
        if (Math.hypot(this.x(st.longitude + s) - px, this.y(st.latitude) - py) <= 6) return st;
      }
    }
    return null;
  }
  _bind() {
    let drag = null, moved = false;
    this.c.addEventListener("mousedown", ev => { drag = [ev.offsetX, ev.offsetY, this.lon0, this.lat0]; moved = false; this.c.classList.add("dragging"); });
    window.addEventListener("mouseup", () => { drag = null; this.c.classList.remove("dragging"); });
    this.c.addEventListener("mousemove", ev => {
      if (drag) {
        const dx = ev.offsetX - drag[0], dy = ev.offsetY - drag[1];
        if (Math.abs(dx) + Math.abs(dy) > 2) moved = true;
        this.lon0 = drag[2] - dx / this.k; this.lat0 = drag[3] + dy / this.k; this.draw();
        return;
      }
      const e = this.hit(ev.offsetX, ev.offsetY);
      const st = e ? null : this.hitStation(ev.offsetX, ev.offsetY);
      if (st) {
        this.tip.style.display = "block";
        this.tip.style.left = (ev.offsetX + 12) + "px"; this.tip.style.top = (ev.offsetY + 12) + "px";
        this.tip.textContent = `${st.network}.${st.station}  ${st.status || ""}` +
          (st.coverage !== undefined ? ` ${fmt(100 * st.coverage, 1)} % data` : "") +
          (st.last ? `, last sample ${shortTime(new Date(st.last * 1000).toISOString())}` : "");
        this.c.style.cursor = "";
      } else if (e) {
        this.tip.style.display = "block";
        this.tip.style.left = (ev.offsetX + 12) + "px"; this.tip.style.top = (ev.offsetY + 12) + "px";
        this.tip.textContent = `${shortTime(e.time)}  M${fmt(e.magnitude, 1)} ${e.magtype || ""}  ${fmt(e.depth_km, 0)} km`;
        this.c.style.cursor = "pointer";
      } else { this.tip.style.display = "none"; this.c.style.cursor = ""; }
    });
    this.c.addEventListener("click", ev => {
      if (moved) return;
      const e = this.hit(ev.offsetX, ev.offsetY);
      if (e && this.onpick) this.onpick(e);
    });
    this.c.addEventListener("wheel", ev => { ev.preventDefault(); this.zoom(ev.deltaY < 0 ? 1.25 : 0.8, ev.offsetX, ev.offsetY); }, {passive: false});
  }
}

async function pageMap(route) {
  const q = route.query;
  main.innerHTML = "<h2>Event map</h2>";
  const form = filterForm(q);
  main.appendChild(form);
  const row = document.createElement("div");
  row.className = "maprow";
  const wrap = document.createElement("div");
  wrap.className = "mapwrap";
  wrap.innerHTML = '<canvas id="map"></canvas><div class="tooltip"></div>' +
    '<div class="maptools"><button type="button" id="zoom-in" title="Zoom in">+</button>' +
    '<button type="button" id="zoom-out" title="Zoom out">−</button>' +
    '<button type="button" id="zoom-fit" title="Fit the events">⤢</button>' +
    '<button type="button" id="zoom-world" title="Whole world">◯</button></div>' +
    '<div class="legend">depth <i style="background:#d7301f"></i>&lt;35 km<i style="background:#fc8d59"></i>35–70' +
    '<i style="background:#41ab5d"></i>70–300<i style="background:#2b6cb0"></i>&gt;300 · size ∝ magnitude<br>' +
    'stations (data in the period shown) <b class="tri" style="color:#2e8b57">▲</b>≥ 98 %' +
    '<b class="tri" style="color:#f0a020">▲</b>gaps<b class="tri" style="color:#d33">▲</b>none</div>';
  const list = document.createElement("div");
  list.className = "eventlist";
  list.id = "event-list";
  row.appendChild(wrap); row.appendChild(list);
  main.appendChild(row);
  const hist = document.createElement("div");
  hist.className = "histwrap";
  hist.innerHTML = '<canvas id="histogram"></canvas>';
  main.appendChild(hist);
  const info = document.createElement("p");
  info.id = "map-info"; info.className = "muted";
  main.appendChild(info);
  const map = new EventMap(wrap.querySelector("canvas"), wrap.querySelector(".tooltip"));
  map.onpick = e => { location.hash = "#/event/" + encodeURIComponent(e.eventid); };
  wrap.querySelector("#zoom-in").onclick = () => map.zoom(1.5);
  wrap.querySelector("#zoom-out").onclick = () => map.zoom(1 / 1.5);
  wrap.querySelector("#zoom-fit").onclick = () => map.fit();
  wrap.querySelector("#zoom-world").onclick = () => map.world();
  form.onsubmit = ev => { ev.preventDefault(); location.hash = "#/map?" + formQuery(form).toString(); };
  form.querySelector("#clear").onclick = () => { location.hash = "#/map"; };
  map.world();
  try {
    map.coast = await coastlines("110m");
    map.draw();
    const qq = new URLSearchParams(q); qq.set("limit", "2000"); qq.set("orderby", "magnitude");
    const [data, st] = await Promise.all([apiJSON("/ui/api/events?" + qq.toString()),
                                          apiJSON("/ui/api/stations").catch(() => ({stations: []}))]);
    map.events = data.events;
    map.stations = st.stations;
    map.fit();
    main.dataset.events = String(data.events.length);
    eventList(list, data.events, map);
    const times = data.events.map(e => Date.parse(e.time) / 1000);
    // the period of the station colours: the filter's start/end, else the span of the events
    const t0 = q.get("starttime") ? Date.parse(q.get("starttime").replace(/Z?$/, "Z")) / 1000 : Math.min(...times);
    const t1 = q.get("endtime") ? Date.parse(q.get("endtime").replace(/Z?$/, "Z")) / 1000 : Math.max(...times);
    timeHistogram(hist.querySelector("canvas"), times, isFinite(t0) ? t0 : null, isFinite(t1) ? t1 : null);
    if (isFinite(t0) && isFinite(t1) && map.stations.length) {
      const pad = t1 > t0 ? 0 : 60;
      const p = new URLSearchParams({start: new Date((t0 - pad) * 1000).toISOString(), end: new Date((t1 + pad) * 1000).toISOString(), maxgaps: "0"});
      try {
        const av = await apiJSON("/ui/api/availability?" + p);
        stationStatus(map.stations, av.channels);
        map.c.dataset.statusFrom = p.get("start") + "/" + p.get("end");
        const counts = {};
        for (const x of map.stations) counts[x.status] = (counts[x.status] || 0) + 1;
        map.c.dataset.status = Object.keys(counts).sort().map(k => k + ":" + counts[k]).join(",");
      } catch (e) { /* station status needs availability: the triangles stay white */ }
      map.draw();
    }
    info.textContent = `${data.events.length} event(s)${data.more ? " (the 2000 largest shown)" : ""}; drag to pan, wheel or +/− to zoom, click an epicentre for its page.`;
    say("");
  } catch (e) { fail(e); }
}

/** The events beside the map, newest first; hovering a row rings the epicentre, clicking opens it. */
function eventList(box, events, map) {
  const evs = events.slice().sort((a, b) => (a.time < b.time ? 1 : -1));
  box.innerHTML = `<table class="data" id="event-list-table"><thead><tr><th>Origin time (UTC)</th><th>Mag</th><th>Depth</th></tr></thead><tbody>` +
    evs.map((e, i) => `<tr data-i="${i}"><td><a class="event-link" href="#/event/${encodeURIComponent(e.eventid)}">${esc(shortTime(e.time).replace(/\.\d+Z$/, "Z"))}</a></td>` +
      `<td class="num">${fmt(e.magnitude, 1)} ${esc(e.magtype || "")}</td><td class="num">${fmt(e.depth_km, 0)}</td></tr>`).join("") + "</tbody></table>";
  for (const tr of box.querySelectorAll("tbody tr")) {
    tr.onmouseenter = () => { map.highlight = evs[+tr.dataset.i]; map.draw(); };
    tr.onmouseleave = () => { map.highlight = null; map.draw(); };
  }
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                    2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400];

/** Ticks of a UTC time axis over [t0, t1] (epoch s): a nice step giving about n ticks, labels
 * with the precision of the step. */
function timeTicks(t0, t1, n) {
  const step = TIME_STEPS.find(x => x >= (t1 - t0) / n) || 365 * 86400;
  const out = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
    const iso = new Date(t * 1000).toISOString();
    out.push({t, label: step >= 86400 ? iso.slice(0, 10) : step >= 60 ? iso.slice(0, 16).replace("T", " ") : iso.slice(11, 19)});
  }
  return out;
}

/** Events per time bin: bin width a "nice" duration giving ~40 bins, UTC axis with ticks. */
function timeHistogram(canvas, times, t0, t1) {
  const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(r.width * dpr); canvas.height = Math.round(r.height * dpr);
  const ctx = canvas.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = r.width, H = r.height, L = 40, R = 10, T = 18, B = 30;
  ctx.clearRect(0, 0, W, H);
  if (!times.length || t0 === null || t1 === null) { canvas.dataset.bins = "0"; canvas.dataset.total = "0"; return; }
  const span = Math.max(t1 - t0, 1);
  const bw = TIME_STEPS.find(x => x >= span / 40) || 365 * 86400;
  const a = Math.floor(t0 / bw) * bw, n = Math.max(1, Math.ceil((t1 - a) / bw + 1e-9));
  const counts = new Array(n).fill(0);
  for (const t of times) { const i = Math.min(n - 1, Math.max(0, Math.floor((t - a) / bw))); counts[i]++; }
  const cmax = Math.max(...counts, 1);
  const x = t => L + (t - a) / (n * bw) * (W - L - R), y = c => H - B - c / cmax * (H - B - T);
  ctx.fillStyle = "#1e5a8a";
  counts.forEach((c, i) => { if (c) ctx.fillRect(x(a + i * bw) + 0.5, y(c), Math.max(1, x(a + (i + 1) * bw) - x(a + i * bw) - 1), H - B - y(c)); });
  ctx.strokeStyle = "#3b4a5a"; ctx.lineWidth = 1; ctx.beginPath();
  ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  ctx.fillStyle = "#3b4a5a"; ctx.font = "10px system-ui, sans-serif";
  // y axis: 0, cmax/2, cmax
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const c of [0, Math.round(cmax / 2), cmax]) ctx.fillText(String(c), L - 4, y(c));
  // x axis: ~6 ticks at a nice duration, labelled in UTC
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const ticks = timeTicks(a, a + n * bw, 6);
  for (const tk of ticks) {
    ctx.beginPath(); ctx.moveTo(x(tk.t), H - B); ctx.lineTo(x(tk.t), H - B + 4); ctx.stroke();
    ctx.fillText(tk.label, x(tk.t), H - B + 6);
  }
  ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";
  const bwText = bw >= 86400 ? `${bw / 86400} d` : bw >= 3600 ? `${bw / 3600} h` : bw >= 60 ? `${bw / 60} min` : `${bw} s`;
  ctx.fillText(`events per ${bwText} (UTC)`, L + 4, T - 6);
  canvas.dataset.bins = String(n); canvas.dataset.total = String(counts.reduce((p, c) => p + c, 0));
  canvas.dataset.binSeconds = String(bw); canvas.dataset.ticks = String(ticks.length);
}

// ------------------------------------------------------------------ bulletin browser
async function pageBulletins(route) {
  const q = route.query;
  main.innerHTML = "<h2>Bulletin browser</h2>";
  const extra = `<label>Order<select name="orderby" id="f-orderby">` +
    ["time", "time-asc", "magnitude", "magnitude-asc"].map(o => `<option${o === (q.get("orderby") || "time") ? " selected" : ""}>${o}</option>`).join("") +
    `</select></label><label>Per page<input name="limit" id="f-limit" type="number" min="1" max="2000" value="${esc(q.get("limit") || "50")}"></label>`;
  const form = filterForm(q, extra);
  main.appendChild(form);
  form.onsubmit = ev => { ev.preventDefault(); location.hash = "#/bulletins?" + formQuery(form).toString(); };
  form.querySelector("#clear").onclick = () => { location.hash = "#/bulletins"; };
  const dl = document.createElement("div");
  dl.className = "downloads";
  dl.innerHTML = 'Download the selection: <button type="button" class="secondary" id="dl-quakeml">QuakeML</button>' +
    '<button type="button" class="secondary" id="dl-text">FDSN text</button>' +
    '<button type="button" class="secondary" id="dl-ims1">IMS1.0</button>';
  main.appendChild(dl);
  const box = document.createElement("div");
  main.appendChild(box);
  const sel = new URLSearchParams(q);
  for (const k of ["limit", "offset", "orderby"]) sel.delete(k);
  dl.querySelector("#dl-quakeml").onclick = () => { const p = new URLSearchParams(sel); p.set("includearrivals", "true"); download("/fdsnws/event/1/query?" + p, "events.xml"); };
  dl.querySelector("#dl-text").onclick = () => { const p = new URLSearchParams(sel); p.set("format", "text"); download("/fdsnws/event/1/query?" + p, "events.txt"); };
  dl.querySelector("#dl-ims1").onclick = () => { const p = new URLSearchParams(sel); p.set("format", "ims1"); download("/ui/api/export?" + p, "bulletin.ims1.txt"); };
  const limit = parseInt(q.get("limit") || "50", 10);
  const offset = parseInt(q.get("offset") || "1", 10);
  const qq = new URLSearchParams(q); qq.set("limit", String(limit)); qq.set("offset", String(offset));
  try {
    const data = await apiJSON("/ui/api/events?" + qq.toString());
    let html = `<table class="data" id="events-table"><thead><tr><th>#</th><th>Origin time (UTC)</th><th>Lat</th><th>Lon</th>` +
      `<th>Depth km</th><th>Mag</th><th>Type</th><th>Catalog</th><th>Event id</th></tr></thead><tbody>`;
    data.events.forEach((e, i) => {
      html += `<tr data-eventid="${esc(e.eventid)}"><td class="num">${offset + i}</td>` +
        `<td><a class="event-link" href="#/event/${encodeURIComponent(e.eventid)}">${esc(shortTime(e.time))}</a></td>` +
        `<td class="num">${fmt(e.latitude, 3)}</td><td class="num">${fmt(e.longitude, 3)}</td>` +
        `<td class="num">${fmt(e.depth_km, 1)}</td><td class="num">${fmt(e.magnitude, 1)}</td><td>${esc(e.magtype || "")}</td>` +
        `<td>${esc(e.catalog)} v${esc(e.version)}</td><td class="muted">${esc(e.eventid)}</td></tr>`;
    });
    html += "</tbody></table>";
    if (!data.events.length) html = '<p id="no-events">No events match the selection (or none readable with this account).</p>';
    html += `<div class="pager"><button type="button" class="secondary" id="prev"${offset > 1 ? "" : " disabled"}>← Previous</button>` +
      `<span>events ${data.events.length ? offset : 0}–${offset + data.events.length - 1}</span>` +
      `<button type="button" class="secondary" id="next"${data.more ? "" : " disabled"}>Next →</button></div>`;
    box.innerHTML = html;
    const go = off => { const p = new URLSearchParams(q); p.set("offset", String(Math.max(1, off))); p.set("limit", String(limit)); location.hash = "#/bulletins?" + p; };
    box.querySelector("#prev").onclick = () => go(offset - limit);
    box.querySelector("#next").onclick = () => go(offset + limit);
    say("");
  } catch (e) { fail(e); }
}

// ------------------------------------------------------------------ event page
function resClass(r) {
  if (r === null || r === undefined) return "";
  const a = Math.abs(r);
  return a >= 3 ? "res-big" : a >= 1.5 ? "res-mid" : "";
}

async function pageEvent(route) {
  const id = route.arg;
  main.innerHTML = `<h2>Event <span class="muted">${esc(id)}</span></h2><div id="event-body">Loading…</div>`;
  try {
    const e = await apiJSON("/ui/api/event/" + encodeURIComponent(id));
    const o = e.origin;
    const kv = rows => '<table class="kv">' + rows.filter(r => r[1] !== "" && r[1] !== null && r[1] !== undefined)
      .map(r => `<tr><td>${r[0]}</td><td>${esc(r[1])}</td></tr>`).join("") + "</table>";
    let html = '<div class="cols"><div id="event-origin"><h3>Origin</h3>' + kv([
      ["Origin time (UTC)", shortTime(o.time)], ["± time s", fmt(o.time_error_s, 2)],
      ["Latitude", fmt(o.latitude, 4)], ["Longitude", fmt(o.longitude, 4)],
      ["Depth km", fmt(o.depth_km, 1) + (o.depth_error_km !== null ? " ± " + fmt(o.depth_error_km, 1) : "") + (o.depth_type ? " (" + o.depth_type + ")" : "")],
      ["Error ellipse km", o.semi_major_km !== null ? `${fmt(o.semi_major_km, 1)} × ${fmt(o.semi_minor_km, 1)}, azimuth ${fmt(o.ellipse_azimuth, 0)}°` : ""],
      ["RMS s", fmt(o.rms_s, 2)], ["Defining phases", o.defining_phases], ["Stations", o.stations],
      ["Azimuthal gap °", fmt(o.azimuthal_gap_deg, 0)],
      ["Distance range °", o.min_distance_deg !== null ? `${fmt(o.min_distance_deg, 2)} – ${fmt(o.max_distance_deg, 2)}` : ""],
      ["Magnitude", e.preferred_magnitude && e.preferred_magnitude.value !== null ? `${fmt(e.preferred_magnitude.value, 1)} ${e.preferred_magnitude.type}` : ""],
      ["Author", o.author], ["Mode", o.evaluation_mode], ["Region", e.name],
      ["Product", `${e.catalog} version ${e.version} (${shortTime(e.window[0])} – ${shortTime(e.window[1])})`],
    ]) + "</div>";
    html += '<div id="event-magnitudes"><h3>Magnitudes</h3><table class="data"><tr><th>Type</th><th>Value</th><th>±</th><th>Stations</th></tr>' +
      e.magnitudes.map(m => `<tr><td>${esc(m.type)}</td><td class="num">${fmt(m.value, 2)}</td><td class="num">${fmt(m.uncertainty, 2)}</td><td class="num">${fmt(m.stations)}</td></tr>`).join("") +
      "</table></div></div>";
    const dl = new URLSearchParams({eventid: e.eventid});
    html += '<div class="downloads">Download: <button type="button" class="secondary" id="ev-quakeml">QuakeML</button>' +
      '<button type="button" class="secondary" id="ev-ims1">IMS1.0</button></div>';
    html += `<h3>Arrivals (${e.arrivals.length})</h3><table class="data" id="arrivals-table"><thead><tr><th>Station</th><th>Channel</th>` +
      `<th>Technology</th><th>Phase</th><th>Arrival time (UTC)</th><th>Δ °</th><th>Azimuth °</th><th>Time res s</th><th>Def</th>` +
      `<th>Backazimuth °</th><th>Baz res °</th><th>Slowness s/°</th><th>Slow res</th></tr></thead><tbody>`;
    for (const a of e.arrivals) {
      html += `<tr class="${a.time_defining ? "" : "nondef"}"><td>${esc((a.network ? a.network + "." : "") + a.station)}</td>` +
        `<td>${esc(a.channel)}</td><td>${esc(a.technology || "seismic")}</td><td>${esc(a.phase)}</td><td>${esc(shortTime(a.time))}</td>` +
        `<td class="num">${fmt(a.distance_deg, 2)}${a.distance_from === "site" ? "*" : ""}</td><td class="num">${fmt(a.azimuth_deg, 1)}</td>` +
        `<td class="num ${resClass(a.time_residual_s)}">${fmt(a.time_residual_s, 2)}</td><td>${a.time_defining ? "d" : "–"}</td>` +
        `<td class="num">${fmt(a.backazimuth_deg, 1)}</td><td class="num">${fmt(a.backazimuth_residual_deg, 1)}</td>` +
        `<td class="num">${fmt(a.slowness_s_deg, 2)}</td><td class="num">${fmt(a.slowness_residual, 2)}</td></tr>`;
    }
    html += "</tbody></table>";
    if (e.arrivals.some(a => a.distance_from === "site")) html += '<p class="muted">* distance and azimuth not in the bulletin: computed from the station coordinates of the inventory.</p>';
    html += '<section id="event-review"></section><div id="event-panels"></div>';
    html += '<h3>Record section</h3><div id="record-section" class="muted">Loading waveforms…</div>';
    document.getElementById("event-body").innerHTML = html;
    document.getElementById("ev-quakeml").onclick = () => { const p = new URLSearchParams(dl); p.set("includearrivals", "true"); download("/fdsnws/event/1/query?" + p, e.eventid + ".xml"); };
    document.getElementById("ev-ims1").onclick = () => download("/ui/api/export?format=ims1&" + dl, e.eventid + ".ims1.txt");
    say("");
    if (e.review) await reviewPanel(e, document.getElementById("event-review"));
    const panels = document.getElementById("event-panels");
    for (const panel of window.IDC.eventPanels) {
      const sec = document.createElement("section");
      panels.appendChild(sec);
      try { await panel(e, sec); } catch (err) { sec.textContent = err.message || String(err); }
    }
    const rs = document.getElementById("record-section");
    try {
      const resp = await api("/ui/api/event/" + encodeURIComponent(id) + "/record-section.png");
      const img = document.createElement("img");
      img.className = "record-section"; img.alt = "Record section of " + e.eventid;
      img.onload = () => { rs.dataset.loaded = "1"; };
      img.src = URL.createObjectURL(await resp.blob());
      rs.textContent = ""; rs.appendChild(img);
    } catch (err) {
      rs.dataset.loaded = "0";
      rs.textContent = "No record section: " + err.message;
    }
  } catch (err) {
    document.getElementById("event-body").textContent = "";
    fail(err);
  }
}

// ------------------------------------------------------------------ review on the event page
/* The queue item(s) reviewing this automatic event: the working copy's origin and arrivals,
 * editable by analysts/operators (phase, defining flag, removal, fixed or free depth), then
 * relocate, accept or reject; the Event Definition Criteria and the audit trail. */
async function reviewPanel(e, box) {
  const ids = e.review.items || [];
  if (!ids.length) {
    box.innerHTML = '<h3>Review</h3><p class="muted" id="review-none">This event is not in the review queue.</p>';
    return;
  }
  const it = await apiJSON("/ui/api/review/" + ids[0]);
  const w = it.event, o = w.origin, may = it.may_decide && it.status !== "merged";
  box.dataset.item = String(it.id);
  box.dataset.status = it.status;
  let html = `<h3>Review: queue item <span id="review-item">${it.id}</span> — <span id="review-status" class="st-${esc(it.status)}">${esc(it.status)}</span>` +
    (ids.length > 1 ? ` <span class="muted">(also items ${ids.slice(1).join(", ")})</span>` : "") + "</h3>";
  const edc = it.edc || {};
  html += `<p id="review-edc" class="${edc.passed ? "ok" : "res-big"}">Event Definition Criteria: ${edc.passed ? "passed" : "failed"}` +
    (edc.reasons && edc.reasons.length ? " — " + esc(edc.reasons.join("; ")) : "") + "</p>";
  const mags = (w.magnitudes || []).map(m => `${fmt(m.value, 1)} ${esc(m.type || "")}`).join(", ");
  html += `<p id="review-origin">Working copy: ${esc(shortTime(o.time))}, ${fmt(o.latitude, 3)}°, ${fmt(o.longitude, 3)}°, depth ` +
    `${fmt(o.depth_km, 1)} km${it.fixed_depth_km !== null ? " (fixed)" : ""}, rms ${fmt(o.rms_s, 2)} s, ndef ${fmt(o.ndef)}` +
    (mags ? `, ${mags}` : "") + (it.needs_relocation ? ' — <b id="review-needs-relocation">edited: relocate before accepting</b>' : "") + "</p>";
  html += '<table class="data" id="review-arrivals"><thead><tr><th>Arrival</th><th>Station</th><th>Phase</th><th>Time (UTC)</th>' +
    '<th>Δ °</th><th>Time res s</th><th>Defining</th>' + (may ? "<th>Remove</th>" : "") + "</tr></thead><tbody>";
  for (const a of w.arrivals) {
    const def = (a.defining || "").startsWith("T");
    html += `<tr data-arrival="${esc(a.id)}" class="${def ? "" : "nondef"}"><td class="muted">${esc(a.id)}</td><td>${esc(a.station)}</td>` +
      (may ? `<td><input class="phase" size="5" value="${esc(a.phase)}" data-was="${esc(a.phase)}"></td>` : `<td>${esc(a.phase)}</td>`) +
      `<td>${esc(shortTime(a.time))}</td><td class="num">${fmt(a.distance_deg, 2)}</td>` +
      `<td class="num ${resClass(a.time_residual_s)}">${fmt(a.time_residual_s, 2)}</td>` +
      (may ? `<td><input type="checkbox" class="defining" data-flags="${esc(a.defining)}"${def ? " checked" : ""}></td><td><input type="checkbox" class="remove"></td>`
           : `<td>${esc(a.defining)}</td>`) + "</tr>";
  }
  html += "</tbody></table>";
  if (may) {
    html += '<form id="review-form" class="filters"><label>Depth km<input id="review-depth" type="number" step="0.1" min="-10" max="800" ' +
      `value="${it.fixed_depth_km !== null ? esc(it.fixed_depth_km) : ""}" placeholder="free"></label>` +
      '<label><span>Depth</span><select id="review-depth-mode"><option value="keep">unchanged</option><option value="fix">fix at this depth</option>' +
      '<option value="free">free</option></select></label>' +
      '<button type="button" id="review-save">Save edits</button><button type="button" id="review-relocate">Relocate</button>' +
      '<button type="button" id="review-accept">Accept</button><button type="button" class="danger" id="review-reject">Reject</button></form>';
  } else if (!it.may_decide) {
    html += '<p class="muted">Read-only: editing and decisions need an analyst or operator token.</p>';
  }
  html += '<details id="review-trail"><summary>Audit trail (' + it.actions.length + " actions)</summary><ul>" +
    it.actions.map(a => `<li>${esc(shortTime(a.time))} <b>${esc(a.action)}</b> by ${esc(a.analyst)}` +
      (a.detail && (a.detail.reason || a.detail.comment) ? ": " + esc(a.detail.reason || a.detail.comment) : "") + "</li>").join("") + "</ul></details>";
  box.innerHTML = html;
  box.dataset.ready = "1";
  if (!may) return;
  const post = async (action, body, done) => {
    try {
      const res = await apiJSON(`/ui/api/review/${it.id}/${action}`, {method: "POST", headers: {"Content-Type": "application/json"},
                                                                     body: JSON.stringify(body || {})});
      say(done(res));
      await reviewPanel(e, box);
    } catch (err) { fail(err); }
  };
  box.querySelector("#review-save").onclick = () => {
    const body = {rename: {}, defining: {}, remove: []};
    for (const tr of box.querySelectorAll("#review-arrivals tbody tr")) {
      const id = tr.dataset.arrival;
      if (tr.querySelector("input.remove").checked) { body.remove.push(id); continue; }
      const ph = tr.querySelector("input.phase");
      if (ph.value.trim() && ph.value.trim() !== ph.dataset.was) body.rename[id] = ph.value.trim();
      const d = tr.querySelector("input.defining"), was = (d.dataset.flags || "").startsWith("T");
      if (d.checked !== was) body.defining[id] = (d.checked ? "T" : "_") + (d.dataset.flags || "___").slice(1);
    }
    const mode = box.querySelector("#review-depth-mode").value, dv = box.querySelector("#review-depth").value;
    if (mode === "fix") {
      if (dv === "") { say("Give the depth to fix (km).", "error"); return; }
      body.depth_km = Number(dv);
    } else if (mode === "free") body.depth_km = "free";
    for (const k of ["rename", "defining"]) if (!Object.keys(body[k]).length) delete body[k];
    if (!body.remove.length) delete body.remove;
    if (!Object.keys(body).length) { say("Nothing changed.", "error"); return; }
    post("edit", body, r => `Item ${r.id}: ${r.changes.length} change(s) saved; relocate next.`);
  };
  box.querySelector("#review-relocate").onclick = () => {
    say("Relocating …");
    post("relocate", {}, r => `Item ${it.id} relocated: ${shortTime(r.origin.time)}, ${fmt(r.origin.latitude, 3)}°, ${fmt(r.origin.longitude, 3)}°, ${fmt(r.origin.depth_km, 1)} km.`);
  };
  box.querySelector("#review-accept").onclick = () => {
    const note = window.prompt("Comment (optional):", "");
    if (note !== null) post("accept", {comment: note}, r => `Item ${r.id}: ${r.status}.`);
  };
  box.querySelector("#review-reject").onclick = () => {
    const note = window.prompt("Reason for rejecting (optional):", "");
    if (note !== null) post("reject", {reason: note}, r => `Item ${r.id}: ${r.status}.`);
  };
}

// ------------------------------------------------------------------ stations and availability
async function pageStations(route) {
  const q = route.query;
  main.innerHTML = "<h2>Station availability</h2>";
  const form = document.createElement("form");
  form.className = "filters";
  form.innerHTML = `<label>Start (UTC)<input class="wide" name="start" id="a-start" value="${esc(q.get("start") || "")}" placeholder="YYYY-MM-DDThh:mm:ss"></label>` +
    `<label>End (UTC)<input class="wide" name="end" id="a-end" value="${esc(q.get("end") || "")}" placeholder="YYYY-MM-DDThh:mm:ss"></label>` +
    `<label>Channels (NET.STA.LOC.CHA pattern)<input name="pattern" id="a-pattern" value="${esc(q.get("pattern") || "*")}"></label>` +
    '<button type="submit" id="a-apply">Apply</button>';
  form.onsubmit = ev => { ev.preventDefault(); location.hash = "#/stations?" + formQuery(form).toString(); };
  main.appendChild(form);
  const box = document.createElement("div");
  main.appendChild(box);
  try {
    const p = new URLSearchParams();
    for (const k of ["start", "end", "pattern"]) if (q.get(k)) p.set(k, q.get(k));
    const [av, st] = await Promise.all([apiJSON("/ui/api/availability?" + p), apiJSON("/ui/api/stations")]);
    const ch = av.channels;
    const t0 = av.start !== null ? av.start : Math.min(...ch.map(c => c.first));
    const t1 = av.end !== null ? av.end : Math.max(...ch.map(c => c.last));
    const span = Math.max(t1 - t0, 1e-6);
    let html = `<p class="muted">${ch.length} channel(s) in the archive's availability table` +
      (ch.length ? `, ${shortTime(new Date(t0 * 1000).toISOString())} – ${shortTime(new Date(t1 * 1000).toISOString())}` : "") +
      `; ${st.stations.length} station(s) in the inventory. Red: gaps.</p>`;
    html += '<table class="data" id="availability-table"><thead><tr><th>Channel</th><th>Rate Hz</th><th>First sample</th><th>Last sample</th>' +
      '<th>Coverage</th><th>Gaps</th><th>Gap s</th><th>Overlaps</th><th>Timeline (UTC)' +
      (ch.length ? '<div class="timeaxis" id="timeline-axis">' + timeTicks(t0, t1, 4).map(tk =>
        `<span style="left:${(100 * (tk.t - t0) / span).toFixed(2)}%">${esc(tk.label)}</span>`).join("") + "</div>" : "") +
      '</th></tr></thead><tbody>';
    for (const c of ch) {
      const bar = c.gap_list.map(g => {
        const a = Math.max(0, (g[0] - t0) / span), b = Math.min(1, (g[1] - t0) / span);
        return `<span style="left:${(100 * a).toFixed(3)}%;width:${Math.max(0.3, 100 * (b - a)).toFixed(3)}%"></span>`;
      }).join("");
      const a = Math.max(0, (c.first - t0) / span), b = Math.min(1, (c.last - t0) / span);
      html += `<tr><td>${esc(c.nslc)}</td><td class="num">${fmt(c.samprate)}</td><td>${esc(shortTime(c.first_iso))}</td>` +
        `<td>${esc(shortTime(c.last_iso))}</td><td class="num">${fmt(100 * c.coverage, 2)} %</td><td class="num">${c.gaps}</td>` +
        `<td class="num">${fmt(c.gap_s, 1)}</td><td class="num">${c.overlaps}</td>` +
        `<td><div class="bar" style="background:linear-gradient(90deg,#ddd ${(100 * a).toFixed(2)}%,#2e8b57 ${(100 * a).toFixed(2)}%,#2e8b57 ${(100 * b).toFixed(2)}%,#ddd ${(100 * b).toFixed(2)}%)">${bar}</div></td></tr>`;
    }
    html += "</tbody></table>";
    html += '<h3>Stations</h3><table class="data" id="stations-table"><thead><tr><th>Network</th><th>Station</th><th>Name</th><th>Lat</th><th>Lon</th><th>Elevation m</th></tr></thead><tbody>' +
      st.stations.map(s => `<tr><td>${esc(s.network)}</td><td>${esc(s.station)}</td><td>${esc(s.name)}</td><td class="num">${fmt(s.latitude, 4)}</td>` +
        `<td class="num">${fmt(s.longitude, 4)}</td><td class="num">${fmt(s.elevation_m, 0)}</td></tr>`).join("") + "</tbody></table>";
    box.innerHTML = html;
    say("");
  } catch (e) { fail(e); }
}

// ------------------------------------------------------------------ review queue
async function pageReview(route) {
  const q = route.query;
  const status = q.get("status") || "pending";
  main.innerHTML = "<h2>Analyst review queue</h2>";
  const form = document.createElement("form");
  form.className = "filters";
  form.innerHTML = `<label>Status<select name="status" id="r-status">` +
    ["pending", "accepted", "rejected", "merged", "pending,accepted,rejected,merged"].map(s =>
      `<option value="${s}"${s === status ? " selected" : ""}>${s.includes(",") ? "all" : s}</option>`).join("") +
    '</select></label><button type="submit">Show</button>';
  form.onsubmit = ev => { ev.preventDefault(); location.hash = "#/review?" + formQuery(form).toString(); };
  main.appendChild(form);
  const box = document.createElement("div");
  main.appendChild(box);
  try {
    const data = await apiJSON("/ui/api/review?status=" + encodeURIComponent(status));
    let html = data.may_decide ? "" : '<p class="muted">Read-only: accepting and rejecting needs an analyst or operator token.</p>';
    html += '<table class="data" id="review-table"><thead><tr><th>Item</th><th>Status</th><th>Origin time (UTC)</th><th>Lat</th><th>Lon</th>' +
      '<th>Depth km</th><th>Mag</th><th>ndef</th><th>nsta</th><th>EDC</th><th>Relocate?</th><th>Published</th>' +
      (data.may_decide ? "<th>Decision</th>" : "") + "</tr></thead><tbody>";
    for (const it of data.items) {
      const when = it.eventid ? `<a class="event-link" href="#/event/${encodeURIComponent(it.eventid)}">${esc(shortTime(it.time))}</a>` : esc(shortTime(it.time));
      html += `<tr data-item="${it.id}"><td class="num">${it.id}</td><td class="st">${esc(it.status)}</td><td>${when}</td>` +
        `<td class="num">${fmt(it.latitude, 3)}</td><td class="num">${fmt(it.longitude, 3)}</td><td class="num">${fmt(it.depth_km, 1)}${it.depth_fixed ? " (fixed)" : ""}</td>` +
        `<td class="num">${it.magnitude !== null && it.magnitude !== undefined ? fmt(it.magnitude, 1) + " " + esc(it.magtype || "") : ""}</td><td class="num">${fmt(it.ndef)}</td><td class="num">${fmt(it.nsta)}</td>` +
        `<td>${it.edc_passed ? "passed" : "failed"}</td><td>${it.needs_relocation ? "yes" : ""}</td><td>${it.published_version ? "REB v" + it.published_version : ""}</td>`;
      if (data.may_decide) {
        const closed = it.status === "merged";
        html += `<td><button type="button" class="accept" data-id="${it.id}"${closed ? " disabled" : ""}>Accept</button> ` +
          `<button type="button" class="reject danger" data-id="${it.id}"${closed ? " disabled" : ""}>Reject</button></td>`;
      }
      html += "</tr>";
    }
    html += "</tbody></table>";
    if (!data.items.length) html += `<p id="review-empty">No ${esc(status.includes(",") ? "" : status + " ")}items.</p>`;
    box.innerHTML = html;
    for (const b of box.querySelectorAll("button.accept, button.reject")) {
      b.onclick = async () => {
        const action = b.classList.contains("accept") ? "accept" : "reject";
        const note = window.prompt(action === "accept" ? "Comment (optional):" : "Reason for rejecting (optional):", "");
        if (note === null) return;
        try {
          const res = await apiJSON(`/ui/api/review/${b.dataset.id}/${action}`, {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify(action === "accept" ? {comment: note} : {reason: note})});
          say(`Item ${res.id}: ${res.status}.`);
          const row = box.querySelector(`tr[data-item="${res.id}"] td.st`);
          if (row) row.textContent = res.status;
        } catch (e) { fail(e); }
      };
    }
    if (!statusBox.classList.contains("error")) say("");
  } catch (e) { fail(e); }
}

// ------------------------------------------------------------------ login
function pageLogin() {
  main.innerHTML = '<h2>Login</h2><div class="card"><p>Paste an API token (from <code>idc accounts token USER</code>). ' +
    "It is kept only in this browser tab (sessionStorage) and sent as an <code>Authorization: Bearer</code> header.</p>" +
    '<form id="login-form"><textarea id="token" rows="2" autocomplete="off" spellcheck="false" placeholder="idc_…"></textarea>' +
    '<p><button type="submit" id="login-btn">Sign in</button> <button type="button" class="secondary" id="logout-btn">Sign out</button></p></form>' +
    '<div id="login-result"></div></div>';
  const res = document.getElementById("login-result");
  const show = () => {
    if (whoami && whoami.authenticated) {
      const prods = Object.entries(whoami.products || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
      res.innerHTML = `<p id="login-ok">Signed in as <b>${esc(whoami.name)}</b> (role ${esc(whoami.role)}${whoami.state ? ", State " + esc(whoami.state) : ""}).</p><p class="muted">Readable: ${esc(prods)}</p>`;
    } else {
      res.innerHTML = '<p class="muted">Not signed in: you see the public part of the bulletins.</p>';
    }
  };
  show();
  document.getElementById("login-form").onsubmit = async ev => {
    ev.preventDefault();
    const t = document.getElementById("token").value.trim();
    if (!t) { say("Paste a token first.", "error"); return; }
    sessionStorage.setItem(TOKEN_KEY, t);
    document.getElementById("token").value = "";
    await refreshWhoami();
    if (whoami && whoami.authenticated) { say("Signed in."); } else { say("The token was refused (invalid, expired or revoked).", "error"); }
    show();
  };
  document.getElementById("logout-btn").onclick = async () => {
    sessionStorage.removeItem(TOKEN_KEY);
    await refreshWhoami();
    say("Signed out.");
    show();
  };
}

// ------------------------------------------------------------------ router
const PAGES = {map: pageMap, bulletins: pageBulletins, event: pageEvent, stations: pageStations,
               review: pageReview, login: pageLogin};

/* What the other scripts of the UI (dashboard.js, waveforms.js, loaded after this one) share:
 * the helpers, the page table (IDC.PAGES.name = async function(route)) and the event page's
 * panels (IDC.eventPanels.push(async function(event, element)): each panel gets the event's JSON
 * of /ui/api/event/<id> and its own <section> below the arrivals). */
window.IDC = {api, apiJSON, esc, fmt, shortTime, say, fail, download, parseHash, main, PAGES,
              eventPanels: [], whoami: () => whoami};

async function route() {
  const r = parseHash();
  const page = PAGES[r.page] ? r.page : "map";
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.page === page);
  main.dataset.page = page;
  main.dataset.ready = "0";
  say("");
  try { await PAGES[page](r); } finally { main.dataset.ready = "1"; }
}

window.addEventListener("hashchange", route);
// after every script of the page has registered its pages and panels
window.addEventListener("DOMContentLoaded", () => refreshWhoami().then(route));
