// SPDX-License-Identifier: Apache-2.0
// The status page's code: every few seconds it reads this agent's
// /api/v1/status (what `syncagent status --json` says, live) and
// /api/v1/series (the ring of samples the agent keeps, agent/admin/series.c)
// and draws the numbers and four SVG line charts. No library: the charts
// are polylines over a fixed 15-minute window. Text from the agent (stream
// and sink names, dead-letter reasons) is only ever set as textContent.
"use strict";

const REFRESH_MS = 5000;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
const W = 600, H = 200, PAD_L = 60, PAD_B = 18, PAD_T = 8;
const SVG_NS = "http://www.w3.org/2000/svg";

function $(id) { return document.getElementById(id); }

function fmtNum(v, unit) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  if (unit === "B") return fmtBytes(v);
  const a = Math.abs(v);
  let s;
  if (a >= 1e9) s = (v / 1e9).toFixed(1) + "G";
  else if (a >= 1e6) s = (v / 1e6).toFixed(1) + "M";
  else if (a >= 1e4) s = (v / 1e3).toFixed(1) + "k";
  else if (a >= 100 || Number.isInteger(v)) s = String(Math.round(v));
  else s = v.toFixed(1);
  return s + (unit && unit !== "B" ? unit : "");
}

function fmtBytes(v) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 || Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(1)) + " " + units[i];
}

function fmtTime(ms) {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// Sets a number: the exact value in data-value (what the test compares
// with /api/v1/status), a readable one as text.
function setNum(id, v, unit) {
  const el = $(id);
  el.dataset.value = v === null || v === undefined ? "" : String(v);
  el.textContent = fmtNum(v, unit);
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fillTable(id, rows, columns, emptyText) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (!rows.length) {
    const tr = body.insertRow();
    const td = cell(tr, emptyText, "empty");
    td.colSpan = columns;
    return;
  }
  for (const r of rows) {
    const tr = body.insertRow();
    for (const c of r) {
      if (c && typeof c === "object") {
        const td = cell(tr, c.text, c.cls);
        if (c.value !== undefined) td.dataset.value = String(c.value);
      } else {
        cell(tr, c);
      }
    }
  }
}

// ---- numbers from /api/v1/status -----------------------------------------

// The newest value of a series of the ring (null: none yet).
function newest(values) {
  for (let i = (values || []).length - 1; i >= 0; i--)
    if (values[i] !== null) return values[i];
  return null;
}

// st: /api/v1/status; se: /api/v1/series, whose newest samples give each
// sink's health (syncagent_sink_up) and acknowledged total.
function renderStatus(st, se) {
  $("agent-id").textContent = st.agent_id || st.agent || "";
  $("version").textContent = st.version || "?";
  const cv = st.config_version || null;
  $("config-version").textContent = cv === null ? "?" : cv;
  $("config-version").dataset.value = cv === null ? "" : cv;

  const used = st.used_bytes, max = st.max_bytes;
  setNum("spool-used", used, "B");
  setNum("spool-max", max, "B");
  const pct = max > 0 ? used / max : null;
  $("spool-pct").dataset.value = pct === null ? "" : String(pct);
  $("spool-pct").textContent = pct === null ? "no cap" : (100 * pct).toFixed(1) + " %";
  const bar = $("spool-bar");
  bar.style.width = pct === null ? "0" : Math.min(100, 100 * pct).toFixed(1) + "%";
  bar.className = pct > 0.95 ? "bad" : pct > 0.8 ? "warn" : "";

  const blocked = st.ingest_blocked || st.ingest_paused;
  const state = $("ingest-state");
  if (blocked && typeof blocked === "object") {
    state.textContent = "paused: " + (blocked.reason || "?");
    state.className = "big bad";
    state.dataset.value = "paused";
  } else if (blocked === true) {
    state.textContent = "paused";
    state.className = "big bad";
    state.dataset.value = "paused";
  } else {
    state.textContent = "running";
    state.className = "big ok";
    state.dataset.value = "running";
  }
  setNum("next-seq", st.next_seq);
  setNum("deadletters", st.deadletters);
  setNum("deadletters-open", st.deadletters_open);

  const sinks = st.sinks || [], sampled = se.sinks || {};
  let up = 0, maxLag = 0;
  const rows = sinks.map(s => {
    const ring = sampled[s.sink] || {};
    const upNow = newest(ring.up), acked = newest(ring.acked);
    const health = upNow === null ? {text: "starting", cls: "warn", value: ""}
                 : upNow > 0 ? {text: "up", cls: "ok", value: 1}
                 : {text: "down", cls: "bad", value: 0};
    if (upNow > 0) up++;
    maxLag = Math.max(maxLag, s.lag_records || 0);
    return [s.sink, s.type || "", health,
            {text: fmtNum(s.lag_records), cls: "num", value: s.lag_records},
            {text: Number(s.lag_seconds || 0).toFixed(1), cls: "num", value: s.lag_seconds},
            {text: fmtNum(acked), cls: "num", value: acked === null ? "" : acked}];
  });
  fillTable("sinks", rows, 6, "no sinks");
  setNum("sinks-up", up);
  setNum("sinks-total", sinks.length);
  setNum("max-lag", maxLag);

  fillTable("streams", (st.streams || []).map(s => [
    s.stream,
    {text: fmtNum(s.records), cls: "num", value: s.records},
    {text: fmtNum(s.segments), cls: "num", value: s.segments},
    {text: fmtBytes(s.bytes || 0), cls: "num", value: s.bytes}]), 4, "no records spooled");

  const latest = st.deadletters_latest || [];
  fillTable("deadletter-latest", latest.map(d => [
    d.created_ms ? fmtTime(d.created_ms) : "", d.stream || "",
    d.location || d.source || "", d.reason || ""]), 4, "none");

  // quality_failures: [{stream, rule, action, records}] (the quality rules'
  // roll-ups, as `status --json` prints them)
  const quality = st.quality_failures || [];
  fillTable("quality", quality.map(q => [
    q.stream, q.rule, q.action,
    {text: fmtNum(q.records), cls: "num", value: q.records}]), 4, "no failures");
}

// ---- charts from /api/v1/series --------------------------------------------

// Per-second rates from a counter's samples; null across a gap or a reset.
function rates(t, v) {
  const out = [null];
  for (let i = 1; i < t.length; i++) {
    const dt = (t[i] - t[i - 1]) / 1000;
    const dv = v[i] === null || v[i - 1] === null ? null : v[i] - v[i - 1];
    out.push(dv === null || dv < 0 || dt <= 0 ? null : dv / dt);
  }
  return out;
}

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  return el;
}

// lines: [{name, values}] over the sample times t; the x axis is the last
// `windowMs` up to the newest sample.
function drawChart(id, t, lines, windowMs) {
  const fig = $(id), svg = fig.querySelector("svg"), legend = fig.querySelector(".legend");
  const unit = fig.dataset.unit;
  svg.replaceChildren();
  legend.replaceChildren();
  const end = t.length ? t[t.length - 1] : Date.now(), start = end - windowMs;
  let max = 0;
  for (const l of lines)
    for (const v of l.values) if (v !== null && v > max) max = v;
  max = max > 0 ? max * 1.1 : 1;
  const x = ms => PAD_L + (W - PAD_L) * (ms - start) / windowMs;
  const y = v => PAD_T + (H - PAD_T - PAD_B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    svg.appendChild(svgEl("line", {class: "grid", x1: PAD_L, x2: W, y1: y(v), y2: y(v)}));
    const label = svgEl("text", {class: "axis", x: PAD_L - 4, y: y(v) + 4, "text-anchor": "end"});
    label.textContent = fmtNum(v, unit);
    svg.appendChild(label);
  }
  const minutes = svgEl("text", {class: "axis", x: PAD_L, y: H - 4});
  minutes.textContent = windowMs >= 120000 ? "-" + Math.round(windowMs / 60000) + " min"
                                            : "-" + Math.round(windowMs / 1000) + " s";
  svg.appendChild(minutes);
  const nowLabel = svgEl("text", {class: "axis", x: W, y: H - 4, "text-anchor": "end"});
  nowLabel.textContent = "now";
  svg.appendChild(nowLabel);
  let points = 0;
  lines.forEach((l, n) => {
    const color = COLORS[n % COLORS.length];
    let d = "", pen = false;
    for (let i = 0; i < t.length; i++) {
      const v = l.values[i];
      if (v === null || v === undefined || t[i] < start) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t[i]).toFixed(1) + "," + y(v).toFixed(1);
      pen = true;
      points++;
    }
    const path = svgEl("path", {d: d, stroke: color});
    path.dataset.series = l.name;
    svg.appendChild(path);
    const last = l.values.filter(v => v !== null && v !== undefined).pop();
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = color;
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(l.name + " " + fmtNum(last, unit)));
    legend.appendChild(item);
  });
  // What the test watches to see the chart move.
  svg.dataset.points = String(points);
  svg.dataset.end = String(end);
}

function renderSeries(se) {
  // The ring's whole span (15 minutes) once it is full; until then what it
  // holds (a minute at least), so that a fresh agent's charts are not a
  // sliver at the right edge.
  const t = se.t || [], full = (se.interval_ms || 5000) * (se.capacity || 180);
  const held = t.length ? t[t.length - 1] - t[0] : 0;
  const windowMs = Math.min(full, Math.max(held, 60000));
  const streams = se.streams || {}, sinks = se.sinks || {}, agent = se.agent || {};
  drawChart("chart-ingest", t, Object.keys(streams).sort()
    .filter(k => streams[k].ingested)
    .map(k => ({name: k, values: rates(t, streams[k].ingested)})), windowMs);
  drawChart("chart-acked", t, Object.keys(sinks).sort()
    .filter(k => sinks[k].acked)
    .map(k => ({name: k, values: rates(t, sinks[k].acked)})), windowMs);
  drawChart("chart-lag", t, Object.keys(sinks).sort()
    .filter(k => sinks[k].lag_records)
    .map(k => ({name: k, values: sinks[k].lag_records})), windowMs);
  const spool = [];
  if (agent.spool_bytes) spool.push({name: "used", values: agent.spool_bytes});
  if (agent.spool_max_bytes) spool.push({name: "cap", values: agent.spool_max_bytes});
  drawChart("chart-spool", t, spool, windowMs);
}

// ---- the loop --------------------------------------------------------------

async function getJSON(path) {
  const r = await fetch(path, {cache: "no-store"});
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

let refreshes = 0;

async function refresh() {
  try {
    const [st, se] = await Promise.all([getJSON("api/v1/status"), getJSON("api/v1/series")]);
    renderStatus(st, se);
    renderSeries(se);
    refreshes++;
    document.body.dataset.refreshes = String(refreshes);
    $("updated").textContent = "updated " + fmtTime(Date.now());
    $("error").hidden = true;
  } catch (e) {
    $("error").textContent = "cannot read the agent: " + e.message;
    $("error").hidden = false;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
