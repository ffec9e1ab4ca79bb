/* idc-pipeline web UI: the event page's array panel (registered in IDC.eventPanels).
 *
 * For each array arrival of the event (GET /ui/api/event/<id>/arrays) the beam / f-k picture of
 * GET /ui/api/event/<id>/array/<station> (pipeline/service/ui/array_view.py), recomputed from the
 * archived element waveforms with the chain's array processing:
 *  - the f-k relative power on the slowness plane as a heat map (sx east, sy north, s/deg: the
 *    propagation direction, so a wave from backazimuth 300 deg lies to the lower right), rings of
 *    equal slowness, the grid peak (x), the refined measurement (+) and the prediction from the
 *    origin and the travel-time table (o);
 *  - the beams steered to the measured and to the predicted slowness vectors and the elements
 *    aligned on the measured beam (band-passed, common scale), the f-k window shaded.
 *
 * Test hooks on each .arr-item: data-station, data-phase, data-loaded ("1" once drawn),
 * data-peak-baz / data-peak-slowness (the grid peak), data-error; the summary line .arr-peak.
 */
"use strict";

(function () {
  const IDC = window.IDC;
  // viridis, 9 stops
  const CMAP = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  const FK_SIZE = 340, FK_PAD = {l: 46, r: 14, t: 14, b: 40};
  const TR_LABEL = 150, TR_PAD_R = 12, TR_AXIS = 30;

  function colour(v) {
    const x = Math.max(0, Math.min(1, v)) * (CMAP.length - 1), i = Math.min(Math.floor(x), CMAP.length - 2), f = x - i;
    const a = CMAP[i], b = CMAP[i + 1];
    return [0, 1, 2].map(k => Math.round(a[k] + f * (b[k] - a[k])));
  }

  function niceStep(span, n) {
    const raw = span / Math.max(n, 1), p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  /** (sx, sy) in s/deg of a wave from backazimuth baz (deg) with slowness s (s/deg). */
  function vec(baz, s) {
    const b = baz * Math.PI / 180;
    return [-s * Math.sin(b), -s * Math.cos(b)];
  }

  function setupCanvas(canvas, w, h) {
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = w + "px"; canvas.style.height = h + "px";
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  function drawFk(canvas, d) {
    const fk = d.fk, W = FK_SIZE + FK_PAD.l + FK_PAD.r, H = FK_SIZE + FK_PAD.t + FK_PAD.b;
    const ctx = setupCanvas(canvas, W, H);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    const nx = fk.sx.length, ny = fk.sy.length;
    const dx = nx > 1 ? fk.sx[1] - fk.sx[0] : 1, dy = ny > 1 ? fk.sy[1] - fk.sy[0] : 1;
    const x0 = fk.sx[0] - dx / 2, x1 = fk.sx[nx - 1] + dx / 2, y0 = fk.sy[0] - dy / 2, y1 = fk.sy[ny - 1] + dy / 2;
    const X = sx => FK_PAD.l + (sx - x0) / (x1 - x0) * FK_SIZE;
    const Y = sy => FK_PAD.t + (y1 - sy) / (y1 - y0) * FK_SIZE;
    let pmax = 0;
    for (const row of fk.power) for (const v of row) if (v > pmax) pmax = v;
    // the map: one image pixel per grid node, scaled up (north up)
    const img = document.createElement("canvas");
    img.width = nx; img.height = ny;
    const ictx = img.getContext("2d"), id = ictx.createImageData(nx, ny);
    for (let i = 0; i < nx; i++) {
      for (let j = 0; j < ny; j++) {
        const c = colour(pmax > 0 ? fk.power[i][j] / pmax : 0), k = 4 * ((ny - 1 - j) * nx + i);
        id.data[k] = c[0]; id.data[k + 1] = c[1]; id.data[k + 2] = c[2]; id.data[k + 3] = 255;
      }
    }
    ictx.putImageData(id, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, FK_PAD.l, FK_PAD.t, FK_SIZE, FK_SIZE);
    ctx.save();
    ctx.beginPath(); ctx.rect(FK_PAD.l, FK_PAD.t, FK_SIZE, FK_SIZE); ctx.clip();
    // rings of equal slowness and the axes through zero
    const smax = Math.max(Math.abs(x0), Math.abs(x1), Math.abs(y0), Math.abs(y1));
    const ring = niceStep(smax, 4);
    ctx.strokeStyle = "rgba(255,255,255,0.55)"; ctx.lineWidth = 1; ctx.setLineDash([3, 3]);
    ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.textAlign = "left"; ctx.textBaseline = "bottom";
    for (let s = ring; s <= smax * 1.42; s += ring) {
      ctx.beginPath(); ctx.arc(X(0), Y(0), s / (x1 - x0) * FK_SIZE, 0, 2 * Math.PI); ctx.stroke();
      const p = vec(225, s);  // label on the upper-right diagonal
      ctx.fillText(String(+s.toFixed(2)), X(p[0]) + 2, Y(p[1]) - 1);
    }
    ctx.setLineDash([]);
    ctx.beginPath(); ctx.moveTo(X(x0), Y(0)); ctx.lineTo(X(x1), Y(0)); ctx.moveTo(X(0), Y(y0)); ctx.lineTo(X(0), Y(y1));
    ctx.strokeStyle = "rgba(255,255,255,0.35)"; ctx.stroke();
    // markers: grid peak (x), measured (+), predicted (o)
    const mark = (sx, sy, kind, col) => {
      const x = X(sx), y = Y(sy), r = 7;
      ctx.lineWidth = 3; ctx.strokeStyle = "rgba(0,0,0,0.6)";
      for (const pass of [0, 1]) {
        if (pass) { ctx.lineWidth = 1.6; ctx.strokeStyle = col; }
        ctx.beginPath();
        if (kind === "x") { ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r); }
        else if (kind === "+") { ctx.moveTo(x - r - 2, y); ctx.lineTo(x + r + 2, y); ctx.moveTo(x, y - r - 2); ctx.lineTo(x, y + r + 2); }
        else ctx.arc(x, y, r + 1, 0, 2 * Math.PI);
        ctx.stroke();
      }
    };
    mark(d.peak.sx, d.peak.sy, "x", "#fff");
    const m = d.measured;
    if (m.backazimuth_deg !== null && m.slowness_s_deg !== null) { const p = vec(m.backazimuth_deg, m.slowness_s_deg); mark(p[0], p[1], "+", "#fff"); }
    const pr = d.predicted;
    if (pr.backazimuth_deg !== null && pr.slowness_s_deg !== null) { const p = vec(pr.backazimuth_deg, pr.slowness_s_deg); mark(p[0], p[1], "o", "#ff4d4d"); }
    ctx.restore();
    // frame, ticks, labels
    ctx.strokeStyle = "#8795a3"; ctx.lineWidth = 1; ctx.strokeRect(FK_PAD.l + 0.5, FK_PAD.t + 0.5, FK_SIZE - 1, FK_SIZE - 1);
    ctx.fillStyle = "#333"; ctx.font = "11px system-ui, sans-serif";
    const step = niceStep(x1 - x0, 5);
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let t = Math.ceil(x0 / step) * step; t <= x1 + 1e-9; t += step) {
      ctx.fillText(String(+t.toFixed(2)), X(t), FK_PAD.t + FK_SIZE + 3);
      ctx.beginPath(); ctx.moveTo(X(t) + 0.5, FK_PAD.t + FK_SIZE); ctx.lineTo(X(t) + 0.5, FK_PAD.t + FK_SIZE + 3); ctx.stroke();
    }
    ctx.fillText("sx (east), s/°", FK_PAD.l + FK_SIZE / 2, FK_PAD.t + FK_SIZE + 18);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let t = Math.ceil(y0 / step) * step; t <= y1 + 1e-9; t += step) {
      ctx.fillText(String(+t.toFixed(2)), FK_PAD.l - 4, Y(t));
    }
    ctx.save(); ctx.translate(11, FK_PAD.t + FK_SIZE / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText("sy (north), s/°", 0, 0); ctx.restore();
  }

  function rowValues(tr) {
    if (tr.kind === "envelope") return {lo: tr.min, hi: tr.max};
    return {lo: tr.data, hi: tr.data};
  }

  function drawTraces(canvas, d) {
    const rows = [];
    const b = d.beams;
    rows.push({label: "beam, measured", sub: `${IDC.fmt(b.measured.backazimuth_deg, 1)}°, ${IDC.fmt(b.measured.slowness_s_deg, 2)} s/° · F ${IDC.fmt(b.measured.fstat, 1)}`,
               tr: b.measured, colour: "#0b4f8a", bold: true});
    if (b.predicted) rows.push({label: "beam, predicted", sub: `${IDC.fmt(b.predicted.backazimuth_deg, 1)}°, ${IDC.fmt(b.predicted.slowness_s_deg, 2)} s/° · F ${IDC.fmt(b.predicted.fstat, 1)}`,
                                tr: b.predicted, colour: "#c0392b", bold: true});
    for (const t of d.traces) rows.push({label: t.nslc, sub: `${t.delay_s >= 0 ? "+" : ""}${t.delay_s.toFixed(3)} s`, tr: t, colour: "#1b1f24"});
    const w = Math.max(canvas.parentElement.getBoundingClientRect().width, 420);
    const rowH = Math.max(22, Math.min(40, Math.floor(380 / rows.length)));
    const H = 6 + rows.length * rowH + TR_AXIS;
    const ctx = setupCanvas(canvas, w, H);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, H);
    const t0 = d.start, t1 = d.end, pw = w - TR_LABEL - TR_PAD_R;
    const X = t => TR_LABEL + (t - t0) / (t1 - t0) * pw;
    const top = 6, bottom = top + rows.length * rowH;
    // f-k window and the arrival
    ctx.fillStyle = "rgba(255,193,7,0.16)";
    ctx.fillRect(X(d.fk_window_s[0]), top, X(d.fk_window_s[1]) - X(d.fk_window_s[0]), bottom - top);
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.2;
    ctx.beginPath(); ctx.moveTo(Math.round(X(0)) + 0.5, top); ctx.lineTo(Math.round(X(0)) + 0.5, bottom); ctx.stroke();
    if (d.predicted.time_s !== null && d.predicted.time_s !== undefined) {
      ctx.setLineDash([4, 3]); ctx.strokeStyle = "#888";
      ctx.beginPath(); ctx.moveTo(Math.round(X(d.predicted.time_s)) + 0.5, top); ctx.lineTo(Math.round(X(d.predicted.time_s)) + 0.5, bottom); ctx.stroke();
      ctx.setLineDash([]);
    }
    // a common scale: the largest absolute value of every row
    let amp = 1e-12;
    for (const r of rows) {
      const v = rowValues(r.tr);
      for (let i = 0; i < v.lo.length; i++) {
        if (v.lo[i] !== null) amp = Math.max(amp, Math.abs(v.lo[i] * r.tr.scale), Math.abs(v.hi[i] * r.tr.scale));
      }
    }
    ctx.save(); ctx.beginPath(); ctx.rect(TR_LABEL, top, pw, bottom - top); ctx.clip();
    rows.forEach((r, k) => {
      const yc = top + k * rowH + rowH / 2, half = rowH * 0.5, tr = r.tr, v = rowValues(tr);
      const Y = x => yc - x * tr.scale / amp * half;
      const off = tr.kind === "envelope" ? 0.5 : 0;
      ctx.strokeStyle = r.colour; ctx.lineWidth = r.bold ? 1.2 : 0.8; ctx.beginPath();
      let pen = false;
      for (let i = 0; i < v.lo.length; i++) {
        if (v.lo[i] === null) { pen = false; continue; }
        const x = X(tr.t0 + (i + off) * tr.dt);
        if (pen) ctx.lineTo(x, Y(v.hi[i])); else ctx.moveTo(x, Y(v.hi[i]));
        if (tr.kind === "envelope") ctx.lineTo(x, Y(v.lo[i]));
        pen = true;
      }
      ctx.stroke();
    });
    ctx.restore();
    // labels and separators
    rows.forEach((r, k) => {
      const y = top + k * rowH;
      if (k === (d.beams.predicted ? 2 : 1)) { ctx.strokeStyle = "#8795a3"; ctx.beginPath(); ctx.moveTo(0, y + 0.5); ctx.lineTo(w, y + 0.5); ctx.stroke(); }
      ctx.textAlign = "left"; ctx.textBaseline = "middle";
      ctx.fillStyle = r.bold ? r.colour : "#1d2733"; ctx.font = (r.bold ? "600 " : "") + "11px system-ui, sans-serif";
      if (rowH >= 30) {
        ctx.fillText(r.label, 6, y + rowH / 2 - 6);
        ctx.fillStyle = "#6b7785"; ctx.font = "10px system-ui, sans-serif"; ctx.fillText(r.sub, 6, y + rowH / 2 + 7);
      } else {
        ctx.fillText(r.label, 6, y + rowH / 2);
        ctx.fillStyle = "#6b7785"; ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "right";
        ctx.fillText(r.sub.split(" · ")[0], TR_LABEL - 5, y + rowH / 2);
      }
    });
    const step = niceStep(t1 - t0, pw / 90);
    ctx.fillStyle = "#333"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    ctx.strokeStyle = "#c9d2dc";
    for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
      ctx.fillText(String(+t.toFixed(3)), X(t), bottom + 4);
      ctx.beginPath(); ctx.moveTo(Math.round(X(t)) + 0.5, bottom); ctx.lineTo(Math.round(X(t)) + 0.5, bottom + 3); ctx.stroke();
    }
    ctx.textAlign = "left"; ctx.fillText("s after the arrival", 6, bottom + 4);
    ctx.strokeStyle = "#c9d2dc"; ctx.beginPath(); ctx.moveTo(TR_LABEL - 0.5, top); ctx.lineTo(TR_LABEL - 0.5, bottom); ctx.stroke();
    ctx.strokeRect(0.5, 0.5, w - 1, H - 1);
  }

  function summary(d) {
    const p = d.peak, m = d.measured, pr = d.predicted, bl = m.bulletin;
    const pm = (v, u, n) => IDC.fmt(v, n) + (u !== null && u !== undefined ? " ± " + IDC.fmt(u, n) : "");
    let s = `f-k peak: backazimuth ${IDC.fmt(p.backazimuth_deg, 1)}°, slowness ${IDC.fmt(p.slowness_s_deg, 2)} s/° ` +
      `(relative power ${IDC.fmt(p.relpow, 2)}) · refined: ${pm(m.backazimuth_deg, m.backazimuth_uncertainty_deg, 1)}°, ` +
      `${pm(m.slowness_s_deg, m.slowness_uncertainty_s_deg, 2)} s/°, F ${IDC.fmt(m.fstat, 1)}, semblance ${IDC.fmt(m.semblance, 2)}`;
    if (pr.backazimuth_deg !== null) {
      s += ` · predicted: ${IDC.fmt(pr.backazimuth_deg, 1)}°` + (pr.slowness_s_deg !== null ? `, ${IDC.fmt(pr.slowness_s_deg, 2)} s/°` : "") +
        ` (Δ ${IDC.fmt(pr.distance_deg, 2)}°${pr.model ? ", " + pr.model : ""})`;
    }
    if (bl.backazimuth_deg !== null) s += ` · bulletin: ${IDC.fmt(bl.backazimuth_deg, 1)}°, ${IDC.fmt(bl.slowness_s_deg, 2)} s/°`;
    return s;
  }

  async function loadItem(event, a, item) {
    const url = "/ui/api/event/" + encodeURIComponent(event.eventid) + "/array/" + encodeURIComponent(a.station) +
      "?" + new URLSearchParams({phase: a.phase});
    const d = await IDC.apiJSON(url);
    const ar = d.array;
    item.querySelector(".arr-meta").textContent = `${ar.elements} elements, aperture ${IDC.fmt(ar.aperture_km, 1)} km, ` +
      `${IDC.fmt(ar.sampling_rate, 0)} Hz, band ${d.band_hz[0]}–${d.band_hz[1]} Hz, f-k window ${d.fk_window_s[0]} to ${d.fk_window_s[1]} s · ${d.elapsed_s} s`;
    item.querySelector(".arr-peak").textContent = summary(d);
    drawFk(item.querySelector("canvas.arr-fk"), d);
    drawTraces(item.querySelector("canvas.arr-traces"), d);
    item.arrayDoc = d;
    item.dataset.peakBaz = String(d.peak.backazimuth_deg);
    item.dataset.peakSlowness = String(d.peak.slowness_s_deg);
    item.dataset.loaded = "1";
    const redraw = () => { if (document.body.contains(item)) drawTraces(item.querySelector("canvas.arr-traces"), d); else window.removeEventListener("resize", redraw); };
    window.addEventListener("resize", redraw);
  }

  IDC.eventPanels.push(async (event, section) => {
    section.className = "arr-panel";
    let list;
    try {
      list = await IDC.apiJSON("/ui/api/event/" + encodeURIComponent(event.eventid) + "/arrays");
    } catch (err) {
      section.remove();  // no waveform access: the waveform viewer says so already
      return;
    }
    if (!list.arrivals.length) { section.remove(); return; }
    section.innerHTML = `<h3>Array arrivals: beam and f-k <span class="muted">(${list.arrivals.length})</span></h3>`;
    for (const a of list.arrivals) {
      const item = document.createElement("div");
      item.className = "arr-item";
      item.dataset.station = a.station; item.dataset.phase = a.phase; item.dataset.loaded = "0";
      item.innerHTML = `<h4>${IDC.esc(a.network ? a.network + "." : "")}${IDC.esc(a.station)} ${IDC.esc(a.phase)} ` +
        `<span class="muted">${IDC.esc(IDC.shortTime(a.time))}</span> <span class="arr-meta muted">loading…</span></h4>` +
        '<div class="arr-row"><div class="arr-fk-box"><canvas class="arr-fk"></canvas>' +
        '<p class="arr-legend muted">× f-k peak · + refined · <span class="arr-l-pred">○</span> predicted · rings: slowness s/° · ' +
        "propagation direction</p></div>" +
        '<div class="arr-tr-box"><canvas class="arr-traces"></canvas></div></div>' +
        '<p class="arr-peak"></p>';
      section.appendChild(item);
      try {
        await loadItem(event, a, item);
      } catch (err) {
        item.dataset.error = err.message || String(err);
        item.dataset.loaded = "0";
        item.querySelector(".arr-meta").textContent = "";
        item.querySelector(".arr-row").remove();
        item.querySelector(".arr-peak").textContent = "No beam / f-k: " + (err.message || err);
      }
    }
  });
})();
