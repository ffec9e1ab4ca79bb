/* idc-pipeline web UI: the event page's waveform viewer (registered in IDC.eventPanels).
 *
 * One row per trace of GET /ui/api/event/<id>/waveforms (label NET.STA.LOC.CHA, distance), drawn
 * on a canvas: min/max envelopes (or the samples when zoomed in), gaps shaded, the event's picks as
 * solid lines (P red, S blue), the travel-time table's predicted phases dashed. Mouse wheel: zoom
 * around the cursor; drag: pan; shift-drag (or the "box" button, then drag): zoom to a time span;
 * "reset": the first window. Each change of the view re-fetches the visible window (debounced) at
 * the canvas' resolution, so zooming in shows the real samples. Filters and components are applied
 * by the server (obspy).
 *
 * Test hooks on the panel element: data-loaded ("1" once drawn after the last fetch, "0" while a
 * fetch is pending), data-traces, data-t0 / data-t1 (the visible window, s after origin),
 * data-filter, data-components, data-fetches (completed fetches), data-samples (traces of the
 * last fetch sent as samples), data-error.
 */
"use strict";

(function () {
  const IDC = window.IDC;
  const FILTERS = [["none", "raw"], ["bandpass:1-10", "BP 1–10 Hz"], ["bandpass:2-8", "BP 2–8 Hz"],
                   ["highpass:1", "HP 1 Hz"], ["lowpass:1", "LP 1 Hz"], ["custom", "custom…"]];
  const COMPONENTS = [["Z", "Z"], ["ZNE", "Z N E"], ["Z12", "Z 1 2"], ["*", "all"]];
  const PHASE_COLOURS = {P: "#d62728", S: "#1f77b4", L: "#2ca02c", R: "#2ca02c", T: "#9467bd", I: "#ff7f0e", H: "#9467bd"};
  const LABEL_W = 150, PAD_R = 12, PAD_T = 6, AXIS_H = 42;
  const MIN_SPAN = 0.02, MAX_SPAN = 7200;

  function phaseColour(ph) { return PHASE_COLOURS[(ph || "?").charAt(0).toUpperCase()] || "#555"; }

  function niceStep(span, n) {
    const raw = span / Math.max(n, 1);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function decimalsOf(step) { return Math.max(0, Math.min(4, -Math.floor(Math.log10(step) + 1e-9))); }

  class WaveformViewer {
    constructor(section, event) {
      this.sec = section; this.ev = event;
      this.originMs = Date.parse(event.origin.time);
      this.rows = []; this.home = null; this.t0 = 0; this.t1 = 1;
      this.filter = "none"; this.components = "Z"; this.common = false; this.boxMode = false;
      this.seq = 0; this.fetches = 0; this.timer = null;
      this._build();
    }

    // ---------------------------------------------------------------- DOM
    _build() {
      const s = this.sec;
      s.className = "wf-panel";
      s.dataset.loaded = "0";
      s.innerHTML = '<h3>Waveforms <span class="wf-summary muted"></span></h3>' +
        '<div class="wf-toolbar">' +
        '<label>Filter <select class="wf-filter">' + FILTERS.map(f => `<option value="${f[0]}">${f[1]}</option>`).join("") + "</select></label>" +
        '<label class="wf-custom" hidden>Custom <input class="wf-custom-text" placeholder="bandpass:0.5-4" size="16" spellcheck="false"></label>' +
        '<label>Components <select class="wf-components">' + COMPONENTS.map(c => `<option value="${c[0]}">${c[1]}</option>`).join("") + "</select></label>" +
        '<label class="wf-check"><input type="checkbox" class="wf-common"> common scale</label>' +
        '<button type="button" class="secondary wf-zoom-in" title="Zoom in">+</button>' +
        '<button type="button" class="secondary wf-zoom-out" title="Zoom out">−</button>' +
        '<button type="button" class="secondary wf-box" title="Box zoom: drag over a time span (or shift-drag)">box</button>' +
        '<button type="button" class="secondary wf-reset" title="Back to the first window">reset</button>' +
        '<span class="wf-window muted"></span><span class="wf-status"></span></div>' +
        '<div class="wf-wrap"><canvas class="wf-canvas"></canvas><div class="wf-cursor"></div>' +
        '<div class="wf-sel"></div><div class="tooltip wf-tip"></div></div>' +
        '<p class="wf-legend muted"><i class="wf-l-p"></i>P pick <i class="wf-l-s"></i>S pick ' +
        '<i class="wf-l-pred"></i>predicted <span class="wf-model"></span> · <i class="wf-l-gap"></i>no data · ' +
        "wheel: zoom · drag: pan · shift-drag: box zoom</p>";
      const q = sel => s.querySelector(sel);
      this.canvas = q(".wf-canvas"); this.tip = q(".wf-tip"); this.cursor = q(".wf-cursor"); this.selBox = q(".wf-sel");
      this.status = q(".wf-status");
      q(".wf-filter").onchange = ev => {
        const v = ev.target.value;
        q(".wf-custom").hidden = v !== "custom";
        if (v === "custom") { q(".wf-custom-text").focus(); return; }
        this.filter = v; this.refetch(0, true);
      };
      q(".wf-custom-text").onkeydown = ev => {
        if (ev.key !== "Enter") return;
        ev.preventDefault();
        const v = ev.target.value.trim();
        if (v) { this.filter = v; this.refetch(0, true); }
      };
      q(".wf-components").onchange = ev => { this.components = ev.target.value; this.refetch(0, true); };
      q(".wf-common").onchange = ev => { this.common = ev.target.checked; this.draw(); };
      q(".wf-zoom-in").onclick = () => this.zoom(0.5);
      q(".wf-zoom-out").onclick = () => this.zoom(2);
      q(".wf-box").onclick = () => { this.boxMode = !this.boxMode; q(".wf-box").classList.toggle("active", this.boxMode); };
      q(".wf-reset").onclick = () => { if (this.home) this.setView(this.home[0], this.home[1]); };
      this._bind();
      this._onresize = () => { if (document.body.contains(this.canvas)) this.draw(); else window.removeEventListener("resize", this._onresize); };
      window.addEventListener("resize", this._onresize);
    }

    // ---------------------------------------------------------------- data
    url(full) {
      const p = new URLSearchParams({components: this.components, filter: this.filter});
      if (!full) {  // the visible window and half of it on either side (panning), one bucket per pixel
        const span = this.t1 - this.t0, m = Math.min(span / 2, (MAX_SPAN - span) / 2);
        p.set("start", (this.t0 - m).toFixed(4)); p.set("end", (this.t1 + m).toFixed(4));
        p.set("width", String(Math.max(100, Math.min(4000, Math.round((this.plotW() || 1000) * (span + 2 * m) / span)))));
      }
      return "/ui/api/event/" + encodeURIComponent(this.ev.eventid) + "/waveforms?" + p;
    }

    /** Fetch the visible window after `delay` ms (later calls replace earlier ones); `rebuild`
     * takes the rows of the answer (new filter or components), otherwise the rows stay. */
    refetch(delay, rebuild) {
      clearTimeout(this.timer);
      this.sec.dataset.loaded = "0";
      this.rebuild = this.rebuild || !!rebuild;
      this.timer = setTimeout(() => this.load(false), delay);
    }

    async load(first) {
      const seq = ++this.seq;
      const rebuild = first || this.rebuild;
      this.rebuild = false;
      this.status.textContent = "loading…"; this.status.className = "wf-status";
      let doc;
      try {
        doc = await IDC.apiJSON(this.url(first));
      } catch (err) {
        if (seq !== this.seq) return;
        this.status.textContent = err.message || String(err); this.status.className = "wf-status error";
        this.sec.dataset.error = this.status.textContent;
        this.sec.dataset.loaded = first ? "0" : "1";
        if (first) throw err;
        return;
      }
      if (seq !== this.seq) return;  // a newer request is on its way
      this.doc = doc;
      if (first) { this.home = [doc.start, doc.end]; this.t0 = doc.start; this.t1 = doc.end; }
      if (rebuild) {
        this.rows = doc.traces;
      } else {  // keep the rows (and their order); take the new data where there is some
        const by = new Map(doc.traces.map(t => [t.nslc, t]));
        this.rows = this.rows.map(r => by.get(r.nslc) || Object.assign({}, r, {kind: "none", data: [], min: [], max: []}));
      }
      this.fetches += 1;
      const d = this.sec.dataset;
      d.fetches = String(this.fetches); d.filter = doc.filter; d.components = doc.components;
      d.samples = String(doc.traces.filter(t => t.kind === "samples").length);
      delete d.error;
      const more = doc.truncated ? `, ${doc.truncated} more channel(s) not shown` : "";
      this.sec.querySelector(".wf-summary").textContent = `${this.rows.length} trace(s), ${doc.filter === "none" ? "raw" : doc.filter}, ` +
        `${doc.components === "*" ? "all" : doc.components} component(s)${more}`;
      this.sec.querySelector(".wf-model").textContent = doc.model ? "(" + doc.model + ")" : "";
      this.status.textContent = `${doc.elapsed_s} s`;
      this.draw();
      d.loaded = "1";
    }

    // ---------------------------------------------------------------- view
    plotW() { return (this.w || 0) - LABEL_W - PAD_R; }
    X(t) { return LABEL_W + (t - this.t0) / (this.t1 - this.t0) * this.plotW(); }
    T(x) { return this.t0 + (x - LABEL_W) / this.plotW() * (this.t1 - this.t0); }

    setView(t0, t1, delay) {
      let span = Math.min(Math.max(t1 - t0, MIN_SPAN), MAX_SPAN);
      const c = (t0 + t1) / 2;
      this.t0 = c - span / 2; this.t1 = c + span / 2;
      this.draw();
      this.refetch(delay === undefined ? 250 : delay, false);
    }

    zoom(f, x) {
      const tc = x === undefined ? (this.t0 + this.t1) / 2 : this.T(x);
      const span = Math.min(Math.max((this.t1 - this.t0) * f, MIN_SPAN), MAX_SPAN);
      const a = (tc - this.t0) / (this.t1 - this.t0);
      this.setView(tc - a * span, tc + (1 - a) * span);
    }

    layout() {
      const r = this.canvas.parentElement.getBoundingClientRect();
      const n = Math.max(this.rows.length, 1);
      this.rowH = Math.max(26, Math.min(64, Math.floor(600 / n)));
      const h = PAD_T + n * this.rowH + AXIS_H;
      const dpr = window.devicePixelRatio || 1;
      this.w = Math.max(r.width, 400); this.h = h;
      this.canvas.style.height = h + "px";
      this.canvas.width = Math.round(this.w * dpr); this.canvas.height = Math.round(h * dpr);
      this.ctx = this.canvas.getContext("2d");
      this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    }

    // ---------------------------------------------------------------- drawing
    /** Index range of the points of `tr` in the visible window (one more on each side). */
    range(tr, n) {
      const off = tr.kind === "envelope" ? 0.5 : 0;
      const i0 = Math.max(0, Math.floor((this.t0 - tr.t0) / tr.dt - off) - 1);
      const i1 = Math.min(n - 1, Math.ceil((this.t1 - tr.t0) / tr.dt - off) + 1);
      return [i0, i1, off];
    }

    /** Centre and half-range (physical units) of the visible part of a trace. */
    stats(tr) {
      const lo = tr.kind === "envelope" ? tr.min : tr.data, hi = tr.kind === "envelope" ? tr.max : tr.data;
      if (!lo || !lo.length) return null;
      const [i0, i1] = this.range(tr, lo.length);
      let sum = 0, cnt = 0, mn = Infinity, mx = -Infinity;
      for (let i = i0; i <= i1; i++) {
        if (lo[i] === null) continue;
        sum += lo[i] + hi[i]; cnt += 2;
        if (lo[i] < mn) mn = lo[i];
        if (hi[i] > mx) mx = hi[i];
      }
      if (!cnt) return null;
      const mid = sum / cnt;
      return {mid: mid * tr.scale, amp: Math.max(mx - mid, mid - mn, 1e-12) * tr.scale};
    }

    draw() {
      if (!this.canvas.isConnected) return;
      this.layout();
      const ctx = this.ctx, W = this.w, H = this.h, pw = this.plotW(), rowH = this.rowH;
      const d = this.sec.dataset;
      d.traces = String(this.rows.length); d.t0 = this.t0.toFixed(3); d.t1 = this.t1.toFixed(3);
      this.sec.querySelector(".wf-window").textContent = `${IDC.fmt(this.t0, 2)} – ${IDC.fmt(this.t1, 2)} s after origin`;
      ctx.clearRect(0, 0, W, H);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
      const top = PAD_T, bottom = PAD_T + this.rows.length * rowH;
      // time grid and axis
      const span = this.t1 - this.t0;
      const step = niceStep(span, pw / 110), nd = decimalsOf(step);
      ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
      ctx.strokeStyle = "#e3e8ee"; ctx.lineWidth = 1;
      const ticks = [];
      for (let t = Math.ceil(this.t0 / step) * step; t <= this.t1 + 1e-9; t += step) ticks.push(t);
      ctx.beginPath();
      for (const t of ticks) { const x = Math.round(this.X(t)) + 0.5; ctx.moveTo(x, top); ctx.lineTo(x, bottom + 4); }
      ctx.stroke();
      ctx.fillStyle = "#333";
      const utcDec = Math.min(3, nd);
      for (const t of ticks) {
        const x = this.X(t);
        ctx.fillText((Math.abs(t) < step / 1e6 ? 0 : t).toFixed(nd), x, bottom + 6);
        const iso = new Date(this.originMs + t * 1000).toISOString();
        ctx.fillStyle = "#6b7785";
        ctx.fillText(iso.slice(11, utcDec ? 20 + utcDec : 19), x, bottom + 20);
        ctx.fillStyle = "#333";
      }
      ctx.textAlign = "left";
      ctx.fillText("s after origin", 6, bottom + 6);
      ctx.fillStyle = "#6b7785"; ctx.fillText("UTC " + this.ev.origin.time.slice(0, 10), 6, bottom + 20);
      // a common scale: the largest half-range of the visible traces
      const st = this.rows.map(r => this.stats(r));
      const commonAmp = Math.max(1e-12, ...st.filter(Boolean).map(s => s.amp));
      ctx.save();
      ctx.beginPath(); ctx.rect(LABEL_W, top, pw, bottom - top); ctx.clip();
      this.rows.forEach((tr, i) => this.drawRow(ctx, tr, i, st[i], commonAmp));
      ctx.restore();
      // labels
      ctx.textBaseline = "middle";
      let group = 0;
      this.rows.forEach((tr, i) => {
        const y = top + i * rowH, dd = tr.distance_deg;
        const prev = this.rows[i - 1];
        if (i && (prev.network !== tr.network || prev.station !== tr.station)) {
          group += 1;
          ctx.strokeStyle = "#c9d2dc"; ctx.beginPath(); ctx.moveTo(0, y + 0.5); ctx.lineTo(W, y + 0.5); ctx.stroke();
        }
        if (group % 2 === 1) { ctx.fillStyle = "rgba(18,58,90,0.045)"; ctx.fillRect(0, y, W, rowH); }
        ctx.textAlign = "left";
        if (rowH >= 34) {
          ctx.fillStyle = "#1d2733"; ctx.font = "600 12px system-ui, sans-serif";
          ctx.fillText(tr.nslc, 6, y + rowH / 2 - 7);
          ctx.fillStyle = "#6b7785"; ctx.font = "11px system-ui, sans-serif";
          ctx.fillText(dd === null ? "" : `Δ ${dd.toFixed(dd < 10 ? 3 : 1)}°` + (dd < 5 ? ` (${(dd * 111.195).toFixed(1)} km)` : ""), 6, y + rowH / 2 + 8);
        } else {  // compact rows: the distance right-aligned on the same line
          ctx.fillStyle = "#1d2733"; ctx.font = "600 11px system-ui, sans-serif";
          ctx.fillText(tr.nslc, 6, y + rowH / 2);
          if (dd !== null) {
            ctx.fillStyle = "#6b7785"; ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "right";
            ctx.fillText(`${dd.toFixed(dd < 10 ? 2 : 0)}°`, LABEL_W - 5, y + rowH / 2);
          }
        }
      });
      ctx.textAlign = "left";
      ctx.strokeStyle = "#c9d2dc"; ctx.beginPath(); ctx.moveTo(LABEL_W - 0.5, top); ctx.lineTo(LABEL_W - 0.5, bottom); ctx.stroke();
      ctx.strokeRect(0.5, 0.5, W - 1, H - 1);
    }

    drawRow(ctx, tr, i, s, commonAmp) {
      const rowH = this.rowH, y0 = PAD_T + i * rowH, yc = y0 + rowH / 2, half = rowH * 0.46;
      // gaps
      ctx.fillStyle = "rgba(211,51,51,0.10)";
      for (const g of tr.gaps || []) {
        const a = this.X(g[0]), b = this.X(g[1]);
        if (b > LABEL_W && a < this.w) ctx.fillRect(a, y0 + 1, Math.max(b - a, 1), rowH - 2);
      }
      // predicted (dashed) and picks (solid)
      ctx.lineWidth = 1.2; ctx.font = "italic 10px system-ui, sans-serif"; ctx.textBaseline = "bottom"; ctx.textAlign = "left";
      ctx.setLineDash([4, 3]);
      for (const p of tr.predicted || []) {
        const x = Math.round(this.X(p.time)) + 0.5;
        ctx.strokeStyle = phaseColour(p.phase); ctx.globalAlpha = 0.7;
        ctx.beginPath(); ctx.moveTo(x, y0 + 2); ctx.lineTo(x, y0 + rowH - 2); ctx.stroke();
        ctx.fillStyle = phaseColour(p.phase); ctx.fillText(p.phase, x + 2, y0 + rowH - 1);
        ctx.globalAlpha = 1;
      }
      ctx.setLineDash([]);
      ctx.lineWidth = 1.6; ctx.font = "600 11px system-ui, sans-serif"; ctx.textBaseline = "top";
      for (const p of tr.picks || []) {
        const x = Math.round(this.X(p.time)) + 0.5;
        ctx.strokeStyle = phaseColour(p.phase); ctx.globalAlpha = p.defining ? 1 : 0.5;
        ctx.beginPath(); ctx.moveTo(x, y0 + 1); ctx.lineTo(x, y0 + rowH - 1); ctx.stroke();
        ctx.fillStyle = phaseColour(p.phase); ctx.fillText(p.phase, x + 2, y0 + 1);
        ctx.globalAlpha = 1;
      }
      if (!s) return;
      const amp = this.common ? commonAmp : s.amp, mid = s.mid, sc = tr.scale;
      const Y = v => yc - (v * sc - mid) / amp * half;
      const env = tr.kind === "envelope";
      const lo = env ? tr.min : tr.data, hi = env ? tr.max : tr.data;
      const [i0, i1, off] = this.range(tr, lo.length);
      const pxPer = this.plotW() * tr.dt / (this.t1 - this.t0);
      ctx.strokeStyle = "#1b1f24"; ctx.lineWidth = 0.8; ctx.beginPath();
      let pen = false;
      if (pxPer < 1.5) {  // more points than pixels: one vertical stroke per pixel column
        let col = null, cmin = 0, cmax = 0;
        const flush = () => {
          if (col === null) return;
          const x = col + 0.5;
          if (pen) ctx.lineTo(x, Y(cmax)); else ctx.moveTo(x, Y(cmax));
          ctx.lineTo(x, Y(cmin)); pen = true; col = null;
        };
        for (let j = i0; j <= i1; j++) {
          if (lo[j] === null) { flush(); pen = false; continue; }
          const c = Math.floor(this.X(tr.t0 + (j + off) * tr.dt));
          if (c !== col) { flush(); col = c; cmin = lo[j]; cmax = hi[j]; } else { if (lo[j] < cmin) cmin = lo[j]; if (hi[j] > cmax) cmax = hi[j]; }
        }
        flush();
        ctx.stroke();
      } else {
        for (let j = i0; j <= i1; j++) {
          if (lo[j] === null) { pen = false; continue; }
          const x = this.X(tr.t0 + (j + off) * tr.dt);
          if (pen) ctx.lineTo(x, Y(hi[j])); else ctx.moveTo(x, Y(hi[j]));
          if (env) ctx.lineTo(x, Y(lo[j]));
          pen = true;
        }
        ctx.stroke();
        if (!env && pxPer >= 5) {  // the samples themselves
          ctx.fillStyle = "#1b1f24";
          for (let j = i0; j <= i1; j++) if (lo[j] !== null) ctx.fillRect(this.X(tr.t0 + j * tr.dt) - 1.5, Y(lo[j]) - 1.5, 3, 3);
        }
      }
    }

    // ---------------------------------------------------------------- mouse
    rowAt(y) { const i = Math.floor((y - PAD_T) / this.rowH); return i >= 0 && i < this.rows.length ? i : -1; }

    valueAt(tr, t) {
      if (tr.kind !== "samples" || !tr.data.length) return null;
      const j = Math.round((t - tr.t0) / tr.dt);
      return j >= 0 && j < tr.data.length && tr.data[j] !== null ? tr.data[j] * tr.scale : null;
    }

    _bind() {
      const c = this.canvas;
      let drag = null;
      c.addEventListener("wheel", ev => {
        if (ev.offsetX < LABEL_W) return;
        ev.preventDefault();
        this.zoom(ev.deltaY < 0 ? 0.8 : 1.25, ev.offsetX);
      }, {passive: false});
      c.addEventListener("mousedown", ev => {
        if (ev.offsetX < LABEL_W || ev.button !== 0) return;
        ev.preventDefault();
        drag = {x: ev.offsetX, t0: this.t0, t1: this.t1, box: ev.shiftKey || this.boxMode, moved: false};
        c.classList.add(drag.box ? "boxing" : "dragging");
      });
      window.addEventListener("mousemove", ev => {
        if (!drag) return;
        const r = c.getBoundingClientRect(), x = ev.clientX - r.left;
        if (Math.abs(x - drag.x) > 2) drag.moved = true;
        if (drag.box) {
          const a = Math.max(LABEL_W, Math.min(drag.x, x)), b = Math.min(this.w - PAD_R, Math.max(drag.x, x));
          Object.assign(this.selBox.style, {display: "block", left: a + "px", width: (b - a) + "px", top: PAD_T + "px",
                                            height: (this.rows.length * this.rowH) + "px"});
        } else if (drag.moved) {
          const dt = (x - drag.x) / this.plotW() * (drag.t1 - drag.t0);
          this.t0 = drag.t0 - dt; this.t1 = drag.t1 - dt; this.draw();
        }
      });
      window.addEventListener("mouseup", ev => {
        if (!drag) return;
        const d = drag; drag = null;
        c.classList.remove("dragging", "boxing"); this.selBox.style.display = "none";
        if (!d.moved) return;
        const r = c.getBoundingClientRect(), x = Math.max(LABEL_W, Math.min(ev.clientX - r.left, this.w - PAD_R));
        if (d.box) {
          if (Math.abs(x - d.x) < 4) return;
          const a = this.T(Math.min(d.x, x)), b = this.T(Math.max(d.x, x));
          this.setView(a, b);
          if (this.boxMode) { this.boxMode = false; this.sec.querySelector(".wf-box").classList.remove("active"); }
        } else {
          this.setView(this.t0, this.t1);
        }
      });
      c.addEventListener("mousemove", ev => {
        if (ev.offsetX < LABEL_W || ev.offsetX > this.w - PAD_R) { this.tip.style.display = "none"; this.cursor.style.display = "none"; return; }
        const i = this.rowAt(ev.offsetY);
        const t = this.T(ev.offsetX);
        Object.assign(this.cursor.style, {display: "block", left: ev.offsetX + "px", top: PAD_T + "px", height: (this.rows.length * this.rowH) + "px"});
        if (i < 0) { this.tip.style.display = "none"; return; }
        const tr = this.rows[i];
        const utc = new Date(this.originMs + t * 1000).toISOString().slice(11, 23);
        const v = this.valueAt(tr, t);
        const near = (tr.picks || []).filter(p => Math.abs(this.X(p.time) - ev.offsetX) < 5)
          .map(p => `${p.phase} pick ${p.time.toFixed(2)} s` + (p.time_residual_s !== null ? ` (res ${p.time_residual_s.toFixed(2)} s)` : ""));
        this.tip.textContent = `${tr.nslc}  ${t.toFixed(3)} s  (${utc} UTC)` + (v !== null ? `  value ${+v.toPrecision(6)}` : "") +
          (near.length ? "  " + near.join(", ") : "");
        this.tip.style.display = "block";
        const left = Math.min(ev.offsetX + 14, this.w - this.tip.offsetWidth - 4);
        this.tip.style.left = left + "px"; this.tip.style.top = (ev.offsetY + 14) + "px";
        this.sec.dataset.hover = tr.nslc;
      });
      c.addEventListener("mouseleave", () => { this.tip.style.display = "none"; this.cursor.style.display = "none"; });
      c.addEventListener("dblclick", () => { if (this.home) this.setView(this.home[0], this.home[1]); });
    }
  }

  IDC.eventPanels.push(async (event, section) => {
    const v = new WaveformViewer(section, event);
    section.wfViewer = v;
    try {
      await v.load(true);
    } catch (err) {
      const msg = err.status === 403 || err.status === 401
        ? "Waveforms need an account allowed to read them (" + (err.message || err) + ")"
        : "No waveforms: " + (err.message || err);
      section.querySelector(".wf-wrap").remove();
      section.querySelector(".wf-toolbar").hidden = true;
      section.querySelector(".wf-legend").textContent = msg;
    }
  });
})();
