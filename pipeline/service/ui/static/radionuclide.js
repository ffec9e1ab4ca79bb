/* idc-pipeline web UI: radionuclide samples (#/samples) and the sample page (#/sample/<id>),
 * registered in IDC.PAGES. Data: /radionuclide/1/ (pipeline/service/radionuclide.py; products RRR
 * and SAMPLEPHD of the access policy: States and IDC staff).
 *
 * Sample page: header and analysis (nuclides with activity concentrations ± 1 sigma, MDCs,
 * category, xenon ratios), the RRR versions with text/JSON downloads, the gamma spectrum (log10
 * counts vs energy; identified peaks of a gamma analysis marked with their nuclides, for a
 * beta–gamma sample the gamma ranges of the detected xenon isotopes' ROIs shaded) and for
 * beta–gamma samples the 2-D coincidence histogram as a heat map (log colour scale) with the ROI
 * boxes.
 *
 * Test hooks: #rn-samples table rows data-sample; #rn-gamma canvas data-drawn ("1"), data-channels,
 * data-peaks (markers drawn), data-max-counts; #rn-histogram canvas data-drawn, data-cells (non-zero
 * cells), data-rois; #rn-nuclides rows data-nuclide.
 */
"use strict";

(function () {
  const IDC = window.IDC;
  const {apiJSON, esc, fmt, say, fail, download} = IDC;

  function iso(s) { return s ? IDC.shortTime(s) : "–"; }
  function sci(x, nd) { return x === null || x === undefined ? "–" : Number(x).toExponential(nd === undefined ? 3 : nd); }

  function denied(err) {
    const who = IDC.whoami();
    const name = who && who.authenticated ? `Account <b>${esc(who.name)}</b> (role ${esc(who.role)}) may not read them. ` : "";
    return `<div class="card" id="rn-denied" data-status="${err.status || ""}"><p>Radionuclide samples and reports are ` +
      `for States and IDC staff. ${name}` + (who && who.authenticated ? "" :
      'Sign in with your API token on the <a href="#/login">Login</a> page.') + "</p></div>";
  }

  // ---------------------------------------------------------------- samples list
  IDC.PAGES.samples = async function (route) {
    const q = route.query, main = IDC.main;
    main.innerHTML = "<h2>Radionuclide samples</h2>";
    const form = document.createElement("form");
    form.className = "filters";
    form.innerHTML = `<label>Station<input name="station" id="rn-station" value="${esc(q.get("station") || "")}"></label>` +
      `<label>Start (UTC)<input class="wide" name="start" value="${esc(q.get("start") || "")}" placeholder="YYYY-MM-DDThh:mm:ss"></label>` +
      `<label>End (UTC)<input class="wide" name="end" value="${esc(q.get("end") || "")}" placeholder="YYYY-MM-DDThh:mm:ss"></label>` +
      '<button type="submit">Apply</button>';
    form.onsubmit = ev => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const el of form.elements) if (el.name && el.value.trim()) p.set(el.name, el.value.trim());
      location.hash = "#/samples?" + p.toString();
    };
    main.appendChild(form);
    const box = document.createElement("div");
    main.appendChild(box);
    const p = new URLSearchParams();
    for (const k of ["station", "start", "end", "type"]) if (q.get(k)) p.set(k, q.get(k));
    let data;
    try { data = await apiJSON("/radionuclide/1/samples?" + p); } catch (e) {
      if (e.status === 401 || e.status === 403) { box.innerHTML = denied(e); return; }
      fail(e); return;
    }
    let html = `<p class="muted">${data.samples.length} sample(s)</p><table class="data" id="rn-samples"><thead><tr>` +
      "<th>Station</th><th>Detector</th><th>Type</th><th>SRID</th><th>Collection start</th><th>Collection stop</th>" +
      "<th>Kind</th><th>Category</th><th>Detected</th><th>RRR</th></tr></thead><tbody>";
    for (const s of data.samples) {
      html += `<tr data-sample="${s.id}"><td>${esc(s.station)}</td><td>${esc(s.detector)}</td>` +
        `<td>${esc(s.data_type)} ${esc(s.qualifier)}</td><td><a href="#/sample/${s.id}">${esc(s.srid || s.measurement_id)}</a></td>` +
        `<td>${esc(iso(s.collection_start))}</td><td>${esc(iso(s.collection_stop))}</td><td>${esc(s.kind || s.error)}</td>` +
        `<td class="num">${s.category === null ? "–" : s.category}</td><td>${esc(s.detected.join(", ") || "none")}</td>` +
        `<td class="num">${s.rrr_version === null ? "–" : "v" + s.rrr_version}</td></tr>`;
    }
    box.innerHTML = html + "</tbody></table>";
  };

  // ---------------------------------------------------------------- plots
  function setupCanvas(canvas, cssHeight) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 800, h = cssHeight;
    canvas.style.height = h + "px";
    canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return {ctx, w, h};
  }

  function niceTicks(lo, hi, n) {
    const raw = (hi - lo) / Math.max(n, 1), p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw) || 10 * p;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(t);
    return out;
  }

  /** log10(counts + 1) vs energy; markers: [{energy, label, colour}], bands: [{lo, hi, label, colour}]. */
  function drawSpectrum(canvas, spec, markers, bands) {
    const {ctx, w, h} = setupCanvas(canvas, 300);
    const L = 56, R = 12, T = 14, B = 36;
    const e = spec.energy_keV, c = spec.counts;
    const e0 = Math.min(...e), e1 = Math.max(...e);
    const ymax = Math.max(1, Math.log10(Math.max(...c) + 1));
    const x = v => L + (w - L - R) * (v - e0) / Math.max(e1 - e0, 1e-9);
    const y = v => h - B - (h - T - B) * v / ymax;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    for (const b of bands) {
      ctx.fillStyle = b.colour; ctx.fillRect(x(b.lo), T, Math.max(1, x(b.hi) - x(b.lo)), h - T - B);
      ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.fillText(b.label, x(b.lo) + 2, T + 11);
    }
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(L, T); ctx.lineTo(L, h - B); ctx.lineTo(w - R, h - B); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    for (const t of niceTicks(e0, e1, 8)) { ctx.fillText(String(t), x(t), h - B + 14); }
    ctx.fillText("energy (keV)", L + (w - L - R) / 2, h - 6);
    ctx.textAlign = "right";
    for (let d = 0; d <= Math.floor(ymax); d++) ctx.fillText("1e" + d, L - 4, y(d) + 4);
    ctx.save(); ctx.translate(12, T + (h - T - B) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
    ctx.fillText("counts + 1 (log)", 0, 0); ctx.restore();
    ctx.strokeStyle = "#1e5a8a"; ctx.beginPath();
    for (let i = 0; i < c.length; i++) {
      const px = x(e[i]), py = y(Math.log10(c[i] + 1));
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    }
    ctx.stroke();
    ctx.textAlign = "left";
    let drawn = 0;
    for (const m of markers) {
      if (m.energy < e0 || m.energy > e1) continue;
      ctx.strokeStyle = m.colour; ctx.setLineDash([4, 3]); ctx.beginPath();
      ctx.moveTo(x(m.energy), T); ctx.lineTo(x(m.energy), h - B); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = m.colour; ctx.save(); ctx.translate(x(m.energy) + 3, T + 4); ctx.rotate(Math.PI / 2);
      ctx.fillText(m.label, 0, 0); ctx.restore();
      drawn++;
    }
    canvas.dataset.channels = String(c.length);
    canvas.dataset.peaks = String(drawn);
    canvas.dataset.maxCounts = String(Math.max(...c));
    canvas.dataset.drawn = "1";
  }

  function heatColour(f) {  // f in [0, 1]: white -> yellow -> red -> dark blue-black
    const stops = [[255, 255, 255], [255, 230, 120], [240, 80, 30], [120, 0, 60], [20, 0, 40]];
    const s = Math.min(stops.length - 1.001, Math.max(0, f) * (stops.length - 1)), i = Math.floor(s), t = s - i;
    return stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * t));
  }

  function drawHistogram(canvas, hist, rois) {
    const {ctx, w, h} = setupCanvas(canvas, 420);
    const L = 56, R = 70, T = 14, B = 36;
    const g = hist.gamma_energy_keV, b = hist.beta_energy_keV, n = hist.counts;
    const ng = n.length, nb = ng ? n[0].length : 0;
    let vmax = 0, cells = 0;
    for (const row of n) for (const v of row) { if (v > 0) cells++; if (v > vmax) vmax = v; }
    const lmax = Math.log10(vmax + 1) || 1;
    const pw = w - L - R, ph = h - T - B;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    // beta energy on x, gamma energy on y (the usual beta–gamma plot)
    const img = ctx.createImageData(nb, ng);
    for (let gi = 0; gi < ng; gi++) for (let bi = 0; bi < nb; bi++) {
      const col = heatColour(Math.log10(n[gi][bi] + 1) / lmax), k = 4 * ((ng - 1 - gi) * nb + bi);
      img.data[k] = col[0]; img.data[k + 1] = col[1]; img.data[k + 2] = col[2]; img.data[k + 3] = 255;
    }
    const off = document.createElement("canvas");
    off.width = nb; off.height = ng; off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, L, T, pw, ph);
    const b0 = b[0], b1 = b[nb - 1], g0 = g[0], g1 = g[ng - 1];
    const x = v => L + pw * (v - b0) / Math.max(b1 - b0, 1e-9), y = v => T + ph - ph * (v - g0) / Math.max(g1 - g0, 1e-9);
    ctx.lineWidth = 1.2; ctx.font = "11px sans-serif";
    for (const r of rois) {
      ctx.strokeStyle = r.detected ? "#0a7d2c" : "#3060c0";
      ctx.strokeRect(x(r.beta_low_keV), y(r.gamma_high_keV), x(r.beta_high_keV) - x(r.beta_low_keV), y(r.gamma_low_keV) - y(r.gamma_high_keV));
      ctx.fillStyle = ctx.strokeStyle; ctx.fillText(String(r.roi) + (r.nuclide ? " " + r.nuclide : ""), x(r.beta_high_keV) + 2 > L + pw - 40 ? x(r.beta_low_keV) + 2 : x(r.beta_high_keV) + 2, y(r.gamma_high_keV) + 10);
    }
    ctx.fillStyle = "#333"; ctx.textAlign = "center";
    for (const t of niceTicks(b0, b1, 8)) ctx.fillText(String(t), x(t), h - B + 14);
    ctx.fillText("beta energy (keV)", L + pw / 2, h - 6);
    ctx.textAlign = "right";
    for (const t of niceTicks(g0, g1, 6)) ctx.fillText(String(t), L - 4, y(t) + 4);
    ctx.save(); ctx.translate(12, T + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
    ctx.fillText("gamma energy (keV)", 0, 0); ctx.restore();
    for (let i = 0; i < ph; i++) {  // colour bar
      const col = heatColour(1 - i / ph); ctx.fillStyle = `rgb(${col[0]},${col[1]},${col[2]})`;
      ctx.fillRect(w - R + 14, T + i, 12, 1.5);
    }
    ctx.textAlign = "left"; ctx.fillStyle = "#333";
    ctx.fillText(String(vmax), w - R + 30, T + 8); ctx.fillText("0", w - R + 30, T + ph);
    canvas.dataset.cells = String(cells);
    canvas.dataset.rois = String(rois.length);
    canvas.dataset.drawn = "1";
  }

  // ---------------------------------------------------------------- sample page
  IDC.PAGES.sample = async function (route) {
    const main = IDC.main, id = route.arg;
    main.innerHTML = `<h2>Radionuclide sample ${esc(id)}</h2>`;
    let smp;
    try { smp = await apiJSON("/radionuclide/1/samples/" + encodeURIComponent(id)); } catch (e) {
      if (e.status === 401 || e.status === 403) { main.insertAdjacentHTML("beforeend", denied(e)); return; }
      fail(e); return;
    }
    const a = smp.analysis || {nuclides: [], category: {}};
    const t = v => v === null || v === undefined ? "–" : IDC.shortTime(new Date(v * 1000).toISOString());
    let html = '<div class="cols"><div><table class="kv" id="rn-header">' +
      [["Station", smp.station], ["Detector", smp.detector], ["Type", `${smp.data_type} ${smp.qualifier}`],
       ["SRID", smp.srid], ["Measurement", smp.measurement_id], ["Collection", `${t(smp.collection_start)} – ${t(smp.collection_stop)}`],
       ["Acquisition start", t(smp.acquisition_start)], ["Live time", fmt(smp.live_time_s, 1) + " s"],
       ["Air volume", smp.air_volume_m3 === null ? "–" : fmt(smp.air_volume_m3, 3) + " m³"],
       ["Analysis", smp.error ? "failed: " + smp.error : a.kind],
       ["Category", (a.category.level === null || a.category.level === undefined ? "–" : a.category.level) + " · " + (a.category.reason || "")]]
        .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("") + "</table></div>";
    html += '<div><b>Reports (RRR)</b><ul id="rn-reports">' + (smp.reports.length ? smp.reports.map(r =>
      `<li>version ${r.version} (runs ${r.runs}, ${esc(IDC.shortTime(r.created))})</li>`).join("") : "<li>none yet</li>") +
      '</ul><div class="downloads"><button type="button" class="secondary" id="rn-rrr-text">RRR text</button>' +
      '<button type="button" class="secondary" id="rn-rrr-json">RRR JSON</button>' +
      '<button type="button" class="secondary" id="rn-phd">PHD message</button></div></div></div>';
    html += '<h3>Nuclides</h3><table class="data" id="rn-nuclides"><thead><tr><th>Nuclide</th><th>Energy / ROI</th>' +
      "<th>Detected</th><th>Concentration (mBq/m³)</th><th>± 1σ</th><th>LC</th><th>MDC (mBq/m³)</th><th>Activity (Bq)</th></tr></thead><tbody>";
    for (const n of a.nuclides) {
      const where = n.rois ? "ROI " + n.rois.join("+") : fmt(n.energy_keV, 2);
      html += `<tr data-nuclide="${esc(n.nuclide)}"${n.detected ? "" : ' class="nondef"'}><td>${esc(n.nuclide)}</td><td>${esc(where)}</td>` +
        `<td>${n.detected ? "yes" : "no"}</td><td class="num">${sci(n.concentration_mBq_m3)}</td><td class="num">${sci(n.concentration_sigma_mBq_m3, 2)}</td>` +
        `<td class="num">${sci(n.lc_mBq_m3, 2)}</td><td class="num">${sci(n.mdc_mBq_m3, 2)}</td><td class="num">${sci(n.activity_Bq)}</td></tr>`;
    }
    html += "</tbody></table>";
    if ((a.xenon_ratios || []).length) {
      html += '<h3>Xenon isotopic ratios</h3><ul id="rn-ratios">' + a.xenon_ratios.map(p =>
        `<li>${esc(p.plot)}: ${esc(p.y_ratio)} = ${fmt(p.y, 4)} vs ${esc(p.x_ratio)} = ${fmt(p.x, 4)} → ${esc(p.side)} side</li>`).join("") + "</ul>";
    }
    html += '<h3>Gamma spectrum</h3><div class="mapwrap"><canvas id="rn-gamma" style="width:100%"></canvas></div>' +
      '<p class="muted" id="rn-gamma-note"></p><div id="rn-hist-box"></div>';
    main.insertAdjacentHTML("beforeend", html);
    const stem = "/radionuclide/1/samples/" + encodeURIComponent(id);
    document.getElementById("rn-rrr-text").onclick = () => download(stem + "/rrr?format=text", `RRR_${id}.txt`).catch(fail);
    document.getElementById("rn-rrr-json").onclick = () => download(stem + "/rrr?format=json", `RRR_${id}.json`).catch(fail);
    document.getElementById("rn-phd").onclick = () => download(stem + "/phd", `sample_${id}.PHD`).catch(fail);
    let sp;
    try { sp = await apiJSON(stem + "/spectrum"); } catch (e) {
      document.getElementById("rn-gamma-note").textContent = "Spectrum not available: " + e.message;
      return;
    }
    if (sp.gamma) {
      const markers = sp.peaks.filter(p => p.nuclides.length).map(p => ({energy: p.energy_keV, label: p.nuclides.join(", "), colour: "#a32020"}));
      const bands = sp.rois.filter(r => r.detected && r.nuclide).map(r => ({lo: r.gamma_low_keV, hi: r.gamma_high_keV,
                                                                           label: r.nuclide, colour: "rgba(46,139,87,0.18)"}));
      drawSpectrum(document.getElementById("rn-gamma"), sp.gamma, markers, bands);
      document.getElementById("rn-gamma-note").textContent = markers.length ? `${markers.length} identified peaks marked.` :
        bands.length ? "Shaded: gamma range of the ROI of each detected xenon isotope." : "No identified peak.";
    } else {
      document.getElementById("rn-gamma-note").textContent = "This sample has no gamma spectrum.";
    }
    if (sp.histogram) {
      const box = document.getElementById("rn-hist-box");
      box.innerHTML = '<h3>Beta–gamma coincidence histogram</h3><div class="mapwrap"><canvas id="rn-histogram" style="width:100%"></canvas></div>' +
        '<p class="muted">Counts per (beta, gamma) channel, log colour scale; boxes: regions of interest (green: isotope detected).</p>';
      drawHistogram(document.getElementById("rn-histogram"), sp.histogram, sp.rois);
    }
  };
})();
