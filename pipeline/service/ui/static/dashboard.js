/* idc-pipeline web UI: the operators' dashboard (#/dashboard, registered in IDC.PAGES).
 *
 * #/dashboard?hours=6|24|168 or ?since=…&until=… (UTC), &silent_after_s=…: the document of
 * GET /ui/api/dashboard (IDC staff only) as summary cards (colour = the server's status:
 * ok / warn / bad / none), a latency chart per product (window end → stored), the ingest rate per
 * hour, and the tables of the last runs, missing windows, quarantine, silent stations, stations
 * and alerts. Refreshes every 60 s while the tab is visible (at once when it becomes visible again
 * after a missed refresh). Canvas charts, no external assets.
 *
 * Test hooks on #dash: data-runs, data-products (products with runs), data-silent, data-quarantine,
 * data-ingest, data-since, data-until, data-refreshes, data-pending (a refresh missed while the
 * tab was hidden); each card has data-card and data-status.
 */
"use strict";

(function () {
  const IDC = window.IDC;
  const {apiJSON, esc, fmt, shortTime, say, fail} = IDC;
  /** refresh period, ms (IDC.dashboardRefreshMs, read when the page opens, lets a test shorten it) */
  const refreshMs = () => IDC.dashboardRefreshMs || 60000;
  const STAFF = ["analyst", "operator"];
  const PERIODS = [["6", "last 6 h"], ["24", "last 24 h"], ["168", "last 7 d"], ["custom", "custom"]];
  const COLOURS = {ok: "#2e8b57", warn: "#d18b00", bad: "#c0392b", none: "#8a94a0"};
  let generation = 0;   // a timer of an earlier visit of the page stops itself
  let timer = null;
  let state = null;     // {gen, params, data, loadedAt, pending, refreshes}

  // ---------------------------------------------------------------- formatting
  function dur(s) {
    if (s === null || s === undefined || Number.isNaN(s)) return "–";
    const a = Math.abs(s);
    if (a < 120) return fmt(s, a < 10 ? 1 : 0) + " s";
    if (a < 7200) return fmt(s / 60, 1) + " min";
    if (a < 172800) return fmt(s / 3600, 1) + " h";
    if (a < 2 * 365.25 * 86400) return fmt(s / 86400, 1) + " d";
    return fmt(s / (365.25 * 86400), 1) + " y";
  }

  function bytes(n) {
    if (!n) return "0 B";
    const u = ["B", "kB", "MB", "GB", "TB"];
    const i = Math.min(u.length - 1, Math.floor(Math.log10(n) / 3));
    return fmt(n / Math.pow(1000, i), i ? 1 : 0) + " " + u[i];
  }

  function iso(epoch) { return new Date(epoch * 1000).toISOString(); }
  function t(isoStr) { return esc(shortTime(isoStr || "")); }
  function two(n) { return String(n).padStart(2, "0"); }

  // ---------------------------------------------------------------- chart helpers
  function canvasContext(c) {
    const r = c.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.max(1, Math.round(r.width * dpr));
    c.height = Math.max(1, Math.round(r.height * dpr));
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return {ctx, w: r.width, h: r.height};
  }

  /** Round time ticks (UTC) for [t0, t1] (epoch s): about maxTicks of them. */
  function timeTicks(t0, t1, maxTicks) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
                   86400, 172800, 604800, 2592000, 31557600];
    const span = Math.max(t1 - t0, 1e-3);
    const step = steps.find(s => span / s <= maxTicks) || steps[steps.length - 1];
    const ticks = [];
    for (let x = Math.ceil(t0 / step) * step; x <= t1 + 1e-6; x += step) ticks.push(x);
    let lastDay = "";
    const labels = ticks.map(x => {
      const d = new Date(x * 1000);
      const day = `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
      const hm = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}` + (step < 60 ? ":" + two(d.getUTCSeconds()) : "");
      let lab;
      if (step >= 86400) lab = day.slice(step >= 2592000 ? 0 : 5);
      else lab = day !== lastDay ? day.slice(5) + " " + hm : hm;
      lastDay = day;
      return lab;
    });
    return {ticks, labels};
  }

  function niceStep(range, n) {
    const raw = Math.max(range, 1e-9) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  }

  /** The unit of a latency axis whose largest value is maxS seconds. */
  function latencyUnit(maxS) {
    if (maxS < 120) return ["s", 1];
    if (maxS < 7200) return ["min", 60];
    if (maxS < 172800) return ["h", 3600];
    if (maxS < 2 * 365.25 * 86400) return ["d", 86400];
    return ["y", 365.25 * 86400];
  }

  /** Axes, grid and labels of a time chart; returns the x/y mapping. */
  function axes(ctx, w, h, t0, t1, yMax, yUnit, yLabel) {
    const L = 56, R = 12, T = 12, B = 34;
    const pw = w - L - R, ph = h - T - B;
    const x = tt => L + (tt - t0) / (t1 - t0) * pw;
    const y = v => T + ph - v / yMax * ph;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif"; ctx.lineWidth = 1;
    // y grid in the chosen unit
    const step = niceStep(yMax / yUnit[1], 5);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let v = 0; v <= yMax / yUnit[1] + 1e-9; v += step) {
      const py = Math.round(y(v * yUnit[1])) + 0.5;
      ctx.strokeStyle = "#e3e8ee"; ctx.beginPath(); ctx.moveTo(L, py); ctx.lineTo(L + pw, py); ctx.stroke();
      ctx.fillStyle = "#4a5663"; ctx.fillText(String(+v.toPrecision(6)), L - 5, py);
    }
    ctx.save(); ctx.translate(12, T + ph / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText(yLabel + (yUnit[0] ? " (" + yUnit[0] + ")" : ""), 0, 0); ctx.restore();
    // time ticks
    const tk = timeTicks(t0, t1, Math.max(2, Math.floor(pw / 90)));
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    tk.ticks.forEach((tt, i) => {
      const px = Math.round(x(tt)) + 0.5;
      ctx.strokeStyle = "#eef1f4"; ctx.beginPath(); ctx.moveTo(px, T); ctx.lineTo(px, T + ph); ctx.stroke();
      ctx.strokeStyle = "#6b7785"; ctx.beginPath(); ctx.moveTo(px, T + ph); ctx.lineTo(px, T + ph + 4); ctx.stroke();
      // labels kept inside the canvas (the first and last tick may sit at the edges)
      const half = ctx.measureText(tk.labels[i]).width / 2;
      ctx.fillStyle = "#4a5663"; ctx.fillText(tk.labels[i], Math.min(Math.max(px, half + 1), w - half - 1), T + ph + 6);
    });
    ctx.strokeStyle = "#6b7785"; ctx.beginPath();
    ctx.moveTo(L + 0.5, T); ctx.lineTo(L + 0.5, T + ph + 0.5); ctx.lineTo(L + pw, T + ph + 0.5); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillStyle = "#6b7785"; ctx.fillText("UTC", L - 8, T + ph + 20);
    return {x, y, L, T, pw, ph, ticks: tk.ticks.length};
  }

  /** Latency of one product's runs against the end of their data window. */
  function drawLatency(c, p, period) {
    const {ctx, w, h} = canvasContext(c);
    const pts = p.series;
    let t0 = period.since_epoch, t1 = period.until_epoch;
    const tmin = Math.min(...pts.map(q => q[0])), tmax = Math.max(...pts.map(q => q[0]));
    // runs bunched in a small part of the period (archived or demo data): show their span
    let zoomed = false;
    if (pts.length && (t1 - tmin) < 0.25 * (t1 - t0)) {
      t0 = tmin - Math.max(0.15 * (t1 - tmin), (p.window_s || 60));
      zoomed = true;
    }
    const yTop = Math.max(...pts.map(q => q[1]), 1) * 1.15;
    const unit = latencyUnit(yTop);
    const a = axes(ctx, w, h, t0, t1, yTop, unit, "latency");
    ctx.save(); ctx.beginPath(); ctx.rect(a.L, a.T - 4, a.pw + 5, a.ph + 8); ctx.clip();  // whole dots at the edges
    // the product's warn/bad limits, when they fall inside the axis
    (p.limits_s || []).forEach((lim, i) => {
      if (lim === null || lim > yTop) return;
      ctx.strokeStyle = i ? COLOURS.bad : COLOURS.warn; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(a.L, a.y(lim)); ctx.lineTo(a.L + a.pw, a.y(lim)); ctx.stroke();
    });
    if (p.latency_s) {
      ctx.strokeStyle = "#7d8fa3"; ctx.setLineDash([2, 3]);
      ctx.beginPath(); ctx.moveTo(a.L, a.y(p.latency_s.median)); ctx.lineTo(a.L + a.pw, a.y(p.latency_s.median)); ctx.stroke();
    }
    ctx.setLineDash([]);
    const sorted = pts.slice().sort((u, v) => u[0] - v[0]);
    ctx.strokeStyle = "rgba(30, 90, 138, .45)"; ctx.lineWidth = 1; ctx.beginPath();
    sorted.forEach((q, i) => { const px = a.x(q[0]), py = a.y(q[1]); if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py); });
    ctx.stroke();
    ctx.fillStyle = "#1e5a8a";
    for (const q of sorted) { ctx.beginPath(); ctx.arc(a.x(q[0]), a.y(q[1]), 3, 0, 2 * Math.PI); ctx.fill(); }
    ctx.restore();
    c.dataset.points = String(pts.length);
    c.dataset.ticks = String(a.ticks);
    c.dataset.zoomed = zoomed ? "1" : "0";
    c._hit = (mx) => {
      let best = null, bd = 9;
      for (const q of sorted) { const d = Math.abs(a.x(q[0]) - mx); if (d < bd) { bd = d; best = q; } }
      return best;
    };
  }

  /** Inputs accepted (green) and rejected (red) per hour, stacked. */
  function drawIngest(c, ing, period) {
    const {ctx, w, h} = canvasContext(c);
    const bins = ing.hourly;
    const t0 = Math.min(period.since_epoch, bins.length ? bins[0].start : period.since_epoch);
    const t1 = Math.max(period.until_epoch, bins.length ? bins[bins.length - 1].start + 3600 : period.until_epoch);
    const yTop = Math.max(1, ...bins.map(b => b.accepted + b.rejected)) * 1.15;
    const a = axes(ctx, w, h, t0, t1, yTop, ["", 1], "inputs per hour");
    const bw = Math.max(1, a.x(3600) - a.x(0) - 1);
    for (const b of bins) {
      const px = a.x(b.start) + 0.5;
      if (b.accepted) { ctx.fillStyle = COLOURS.ok; ctx.fillRect(px, a.y(b.accepted), bw, a.y(0) - a.y(b.accepted)); }
      if (b.rejected) {
        ctx.fillStyle = COLOURS.bad;
        ctx.fillRect(px, a.y(b.accepted + b.rejected), bw, a.y(b.accepted) - a.y(b.accepted + b.rejected));
      }
    }
    c.dataset.bars = String(bins.filter(b => b.accepted + b.rejected).length);
    c.dataset.ticks = String(a.ticks);
  }

  // ---------------------------------------------------------------- rendering
  function card(kind, status, title, value, sub, reason, extra) {
    return `<div class="dash-card st-${esc(status)}" data-card="${esc(kind)}" data-status="${esc(status)}" ` +
      `title="${esc(reason || "")}"${extra || ""}><div class="dash-card-title">${esc(title)}</div>` +
      `<div class="dash-card-value">${value}</div><div class="dash-card-sub">${sub}</div></div>`;
  }

  function periodLine(label, p) {
    let s = `${label}: <b>${t(p.since)} – ${t(p.until)}</b>`;
    if (p.anchor === "now") s += " (up to now)";
    else if (p.anchor === "given") s += " (as asked)";
    else s += ` <span class="dash-anchor">(ends at the ${esc(p.anchor)}, ${esc(dur(p.idle_s))} ago: nothing newer in the store)</span>`;
    return s;
  }

  function render(box, d) {
    const prods = d.products;
    const ing = d.ingest, qu = d.quarantine, st = d.stations, al = d.alerts;
    let html = `<p class="dash-period" id="d-period-info">${periodLine("Products and data (data time)", d.period)}<br>` +
      `${periodLine("Ingest, quarantine and alerts (arrival time)", d.activity_period)}` +
      `<br><span class="muted">Generated ${t(d.generated)} UTC · silent = no sample for more than ${esc(dur(st.silent_after_s))} ` +
      `before the period end</span></p>`;
    // summary cards
    html += '<div class="dash-cards" id="d-cards">';
    for (const p of prods) {
      html += card("product", p.status, p.type, p.latency_s ? dur(p.latency_s.median) : "–",
        `${p.runs} run${p.runs === 1 ? "" : "s"} · ${p.windows} window${p.windows === 1 ? "" : "s"}` +
        (p.windows_missing ? ` · <b>${p.windows_missing} missing</b>` : "") +
        (p.latency_s ? `<br>median latency (p90 ${dur(p.latency_s.p90)})` : "<br>no runs") +
        (p.last ? `<br>last ${t(p.last.window[1]).slice(5, 16)}, ${esc(p.last.status)}, ${esc(dur(p.last.duration_s))}` : ""),
        p.status_reason, ` data-product="${esc(p.type)}" data-runs="${p.runs}"` +
        ` data-median="${p.latency_s ? p.latency_s.median : ""}" data-missing="${p.windows_missing}"`);
    }
    html += card("ingest", ing.status, "Ingest", `${fmt(ing.files_per_hour, ing.files_per_hour < 10 ? 2 : 0)} files/h`,
      `${ing.accepted} accepted · ${ing.rejected} rejected<br>${bytes(ing.bytes)}, ${ing.samples.toLocaleString("en")} samples`,
      ing.status_reason, ` data-accepted="${ing.accepted}" data-rejected="${ing.rejected}"`);
    html += card("quarantine", qu.status, "Quarantine", String(qu.held),
      `held · ${qu.in_period} new in the period<br>${qu.unresolved} unresolved`, qu.status_reason,
      ` data-held="${qu.held}" data-in-period="${qu.in_period}"`);
    html += card("silent", st.status, "Silent stations", `${st.silent_count} / ${st.known}`,
      `no data for &gt; ${esc(dur(st.silent_after_s))}<br>${st.with_gaps.length} with gaps`, st.status_reason,
      ` data-silent="${st.silent_count}" data-known="${st.known}"`);
    html += card("alerts", al.status, "Alerts", String(al.in_period === null ? "?" : al.in_period),
      `sent in the period<br>${al.events === null ? "state unreadable" : al.events + " event(s) alerted"}`, al.status_reason,
      ` data-alerts="${al.in_period}"`);
    html += "</div>";
    // charts
    html += '<h3>Latency per product <span class="muted">(data-window end → product stored; backfills from the data\'s arrival)</span></h3>' +
      '<div class="dash-charts" id="d-latency-charts">';
    for (const p of prods) {
      if (!p.runs) continue;
      html += `<div class="dash-chart"><div class="dash-chart-title">${esc(p.type)}: median ${esc(dur(p.latency_s.median))}, ` +
        `p90 ${esc(dur(p.latency_s.p90))}, max ${esc(dur(p.latency_s.max))}</div>` +
        `<canvas class="dash-latency" data-product="${esc(p.type)}"></canvas><div class="tooltip"></div></div>`;
    }
    const idle = prods.filter(p => !p.runs).map(p => p.type);
    html += "</div>" + (idle.length ? `<p class="muted" id="d-no-runs">No runs in the period: ${esc(idle.join(", "))}.</p>` : "");
    html += `<h3>Ingest per hour <span class="muted">(accepted green, rejected red; newest data ${t(ing.newest_data)}, ` +
      `newest input ${t(ing.newest_file)}; ${ing.total_files} input(s) in all)</span></h3>` +
      '<div class="dash-chart dash-wide"><canvas id="d-ingest-chart"></canvas></div>';
    // tables
    html += `<h3>Last runs (${d.runs.length} of ${d.runs_total})</h3>`;
    html += '<table class="data" id="d-runs-table"><thead><tr><th>Product</th><th>Window (UTC)</th><th>Status</th>' +
      "<th>Events</th><th>Latency</th><th>Duration</th><th>Runner</th><th>Finished (UTC)</th></tr></thead><tbody>" +
      d.runs.map(r => `<tr data-product="${esc(r.type)}"><td>${esc(r.type)}</td><td>${t(r.window[0])} – ${t(r.window[1]).slice(11)}</td>` +
        `<td>${esc(r.status)}</td><td class="num">${r.events}</td><td class="num">${esc(dur(r.latency_s))}</td>` +
        `<td class="num">${esc(dur(r.duration_s))}</td><td title="${esc(r.run_id)}">${esc(r.runner)}</td><td>${t(r.finished)}</td></tr>`).join("") +
      "</tbody></table>";
    if (!d.runs.length) html += '<p class="muted">No product run logged in the period.</p>';
    const gaps = prods.flatMap(p => p.gaps.map(g => Object.assign({type: p.type}, g)));
    if (gaps.length) {
      html += '<h3>Missing windows</h3><table class="data" id="d-gaps-table"><thead><tr><th>Product</th><th>From (UTC)</th>' +
        "<th>To</th><th>Windows</th></tr></thead><tbody>" +
        gaps.map(g => `<tr><td>${esc(g.type)}</td><td>${t(g.start)}</td><td>${t(g.end)}</td><td class="num">${g.windows}</td></tr>`).join("") +
        "</tbody></table>";
    }
    html += `<h3>Quarantine <span class="muted">(${qu.held} held, ${qu.files_on_disk} file(s) in ${esc(qu.folder)})</span></h3>`;
    html += '<table class="data" id="d-quarantine-table"><thead><tr><th>Time (UTC)</th><th>File</th><th>Kind</th>' +
      "<th>Reason</th><th>State</th></tr></thead><tbody>" +
      qu.recent.map(r => `<tr><td>${t(r.time)}</td><td title="${esc(r.source)}">${esc(r.file)}</td><td>${esc(r.kind)}</td>` +
        `<td class="dash-reason">${esc(r.reason)}</td><td>${r.resolved ? "resolved" : r.quarantine_path ? "held" : "no copy"}</td></tr>`).join("") +
      "</tbody></table>";
    if (!qu.recent.length) html += '<p class="muted">Nothing was ever quarantined.</p>';
    const silent = st.stations.filter(s => s.silent);
    html += `<h3>Silent stations (${silent.length} of ${st.known})</h3>`;
    html += '<table class="data" id="d-silent-table"><thead><tr><th>Station</th><th>Name</th><th>Newest sample (UTC)</th>' +
      "<th>Silent for</th></tr></thead><tbody>" +
      silent.map(s => `<tr data-station="${esc(s.network + "." + s.station)}"><td>${esc(s.network + "." + s.station)}</td><td>${esc(s.name)}</td>` +
        `<td>${s.newest ? t(s.newest) : "never"}</td><td class="num">${s.latency_s === null ? "always" : esc(dur(s.latency_s))}</td></tr>`).join("") +
      "</tbody></table>";
    if (!silent.length) html += '<p class="muted" id="d-none-silent">Every station delivered data.</p>';
    html += '<h3>Stations</h3><table class="data" id="d-stations-table"><thead><tr><th>Station</th><th>Newest sample (UTC)</th>' +
      "<th>Latency</th><th>Channels</th><th>Coverage of the period</th><th>Gaps</th><th>Gap s</th></tr></thead><tbody>" +
      st.stations.map(s => `<tr class="${s.silent ? "dash-silent" : ""}" data-station="${esc(s.network + "." + s.station)}">` +
        `<td>${esc(s.network + "." + s.station)}</td><td>${s.newest ? t(s.newest) : "never"}</td>` +
        `<td class="num">${esc(dur(s.latency_s))}</td><td class="num">${s.channels_in_period}</td>` +
        `<td class="num">${fmt(100 * s.coverage, 2)} %</td><td class="num">${s.gaps}</td><td class="num">${fmt(s.gap_s, 1)}</td></tr>`).join("") +
      "</tbody></table>";
    if (al.recent.length) {
      html += '<h3>Alerts</h3><table class="data" id="d-alerts-table"><thead><tr><th>Sent (UTC)</th><th>Message</th><th>Type</th>' +
        "<th>Product</th><th>Origin time</th><th>Mag</th><th>Region</th></tr></thead><tbody>" +
        al.recent.map(m => `<tr><td>${t(m.sent)}</td><td>${esc(m.identifier)}</td><td>${esc(m.msgType)}</td>` +
          `<td>${esc(m.product)} v${esc(m.version)}</td><td>${t(m.origin_time)}</td><td class="num">${fmt(m.magnitude, 1)} ${esc(m.magtype)}</td>` +
          `<td>${esc(m.region)}</td></tr>`).join("") + "</tbody></table>";
    }
    box.innerHTML = html;
    box.dataset.runs = String(prods.reduce((n, p) => n + p.runs, 0));
    box.dataset.products = String(prods.filter(p => p.runs).length);
    box.dataset.silent = String(st.silent_count);
    box.dataset.quarantine = String(qu.held);
    box.dataset.ingest = String(ing.accepted);
    box.dataset.since = d.period.since;
    box.dataset.until = d.period.until;
    drawCharts(box, d);
  }

  function drawCharts(box, d) {
    for (const c of box.querySelectorAll("canvas.dash-latency")) {
      const p = d.products.find(q => q.type === c.dataset.product);
      drawLatency(c, p, d.period);
      const tip = c.parentElement.querySelector(".tooltip");
      c.onmousemove = ev => {
        const q = c._hit && c._hit(ev.offsetX);
        if (!q) { tip.style.display = "none"; return; }
        tip.style.display = "block";
        tip.style.left = (ev.offsetX + 12) + "px"; tip.style.top = (ev.offsetY + 30) + "px";
        tip.textContent = `window end ${shortTime(iso(q[0]))} · latency ${dur(q[1])} · stored ${shortTime(iso(q[2]))}`;
      };
      c.onmouseleave = () => { tip.style.display = "none"; };
    }
    const ic = box.querySelector("#d-ingest-chart");
    if (ic) drawIngest(ic, d.ingest, d.activity_period);
  }

  // ---------------------------------------------------------------- loading and refresh
  function apiParams(q) {
    const p = new URLSearchParams();
    for (const k of ["since", "until", "hours", "silent_after_s"]) if (q.get(k)) p.set(k, q.get(k));
    return p;
  }

  async function load(gen, box) {
    const d = await apiJSON("/ui/api/dashboard?" + state.params.toString());
    if (gen !== generation) return;  // the user went elsewhere meanwhile
    state.data = d;
    state.loadedAt = Date.now();
    state.pending = false;
    box.dataset.pending = "0";
    render(box, d);
    state.refreshes += 1;
    box.dataset.refreshes = String(state.refreshes);
    const upd = document.getElementById("d-updated");
    if (upd) upd.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
  }

  function stop() { if (timer) { clearInterval(timer); timer = null; } }

  async function refresh(gen, box) {
    if (gen !== generation || IDC.main.dataset.page !== "dashboard") { stop(); return; }
    const auto = document.getElementById("d-auto");
    if (auto && !auto.checked) return;
    if (document.hidden) { state.pending = true; box.dataset.pending = "1"; return; }  // paused while hidden
    try { await load(gen, box); } catch (e) { fail(e); }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden || !state || state.gen !== generation || IDC.main.dataset.page !== "dashboard") return;
    if (state.pending || Date.now() - state.loadedAt > state.every) refresh(state.gen, document.getElementById("dash"));
  });

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const box = document.getElementById("dash");
      if (box && state && state.data && IDC.main.dataset.page === "dashboard") drawCharts(box, state.data);
    }, 150);
  });

  function deniedMessage(who, err) {
    const name = who && who.authenticated ? `Account <b>${esc(who.name)}</b> (role ${esc(who.role)}${who.state ? ", State " + esc(who.state) : ""}) is not IDC staff. ` : "";
    return `<div class="card" id="d-denied" data-status="${err ? err.status : ""}"><p>The operations dashboard is for IDC staff ` +
      `(roles ${STAFF.join(", ")}). ${name}` +
      (who && who.authenticated ? "" : 'Sign in with an analyst\'s or operator\'s API token on the <a href="#/login">Login</a> page.') +
      "</p></div>";
  }

  IDC.PAGES.dashboard = async function (route) {
    const q = route.query;
    const gen = ++generation;
    stop();
    const main = IDC.main;
    main.innerHTML = "<h2>Operations</h2>";
    const who = IDC.whoami();
    if (!who || !who.authenticated || !STAFF.includes(who.role)) {
      main.insertAdjacentHTML("beforeend", deniedMessage(who));
      return;
    }
    const custom = q.get("since") || q.get("until");
    const hours = custom ? "custom" : (PERIODS.some(p => p[0] === q.get("hours")) ? q.get("hours") : "24");
    const form = document.createElement("form");
    form.className = "filters";
    form.id = "d-form";
    const silentMin = q.get("silent_after_s") ? Number(q.get("silent_after_s")) / 60 : 60;
    form.innerHTML = `<label>Period<select id="d-period" name="period">` +
      PERIODS.map(([v, l]) => `<option value="${v}"${v === hours ? " selected" : ""}>${l}</option>`).join("") + "</select></label>" +
      `<label class="d-custom">Since (UTC)<input class="wide" id="d-since" name="since" value="${esc(q.get("since") || "")}" placeholder="YYYY-MM-DDThh:mm:ss"></label>` +
      `<label class="d-custom">Until (UTC)<input class="wide" id="d-until" name="until" value="${esc(q.get("until") || "")}" placeholder="YYYY-MM-DDThh:mm:ss"></label>` +
      `<label>Silent after (min)<input type="number" min="1" step="any" id="d-silent-min" value="${esc(fmt(silentMin))}"></label>` +
      '<button type="submit" id="d-apply">Apply</button>' +
      `<label class="d-inline"><input type="checkbox" id="d-auto" checked> auto refresh ${Math.round(refreshMs() / 1000)} s</label>` +
      '<button type="button" class="secondary" id="d-refresh">Refresh now</button><span class="muted" id="d-updated"></span>';
    main.appendChild(form);
    const showCustom = () => {
      for (const el of form.querySelectorAll(".d-custom")) el.style.display = form.querySelector("#d-period").value === "custom" ? "" : "none";
    };
    showCustom();
    const apply = () => {
      const p = new URLSearchParams();
      const per = form.querySelector("#d-period").value;
      if (per === "custom") {
        for (const k of ["since", "until"]) { const v = form.querySelector("#d-" + k).value.trim(); if (v) p.set(k, v); }
      } else p.set("hours", per);
      const m = Number(form.querySelector("#d-silent-min").value);
      if (m > 0 && m !== 60) p.set("silent_after_s", String(Math.round(m * 60)));
      location.hash = "#/dashboard?" + p.toString();
    };
    form.querySelector("#d-period").onchange = () => { showCustom(); if (form.querySelector("#d-period").value !== "custom") apply(); };
    form.onsubmit = ev => { ev.preventDefault(); apply(); };
    const box = document.createElement("div");
    box.id = "dash";
    box.dataset.refreshes = "0";
    main.appendChild(box);
    form.querySelector("#d-refresh").onclick = () => load(gen, box).catch(fail);
    const params = apiParams(q);
    if (hours !== "custom" && !params.get("hours")) params.set("hours", hours);
    state = {gen, params, data: null, loadedAt: 0, pending: false, refreshes: 0, every: refreshMs()};
    try {
      say("Loading the operations dashboard …");
      await load(gen, box);
      say("");
    } catch (e) {
      if (e.status === 401 || e.status === 403) { box.innerHTML = deniedMessage(who, e); say(""); return; }
      fail(e);
      return;
    }
    timer = setInterval(() => refresh(gen, box), state.every);
  };
})();
