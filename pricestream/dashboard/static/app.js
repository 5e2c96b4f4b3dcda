// pricestream dashboard: reads /api/*, follows /api/events (server-sent events), draws with plotly.js.
// Every value that comes from events is put in the page with textContent, never as HTML.
"use strict";

const PAGE_SIZE = 50;
const view = { q: "", sort: "sku", desc: false, offset: 0, total: 0, selected: null };
let pageLoading = null, pageAgain = false, detailLoading = null, detailAgain = false;
let throughputDrawn = false;

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

const num = (v, digits = 2) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));
const int = (v) => (v === null || v === undefined ? "-" : Math.round(v).toLocaleString("en"));
const pct = (v) => (v === null || v === undefined ? "-" : (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + "%");
const time = (ms) => (ms === null || ms === undefined ? "-" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));
const dates = (ms) => ms.map((t) => (t === null ? null : new Date(t)));

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

// -- summary: tiles, worker, feed, dead letters ---------------------------------------------------

function renderSummary(s) {
  $("tile-skus").textContent = int(s.skus);
  $("tile-price-changes").textContent = int(s.price_changes);
  $("tile-restock-orders").textContent = int(s.restock_orders);
  $("tile-dead-letters").textContent = int(s.dead_letters.total);
  $("tile-dead-letters").classList.toggle("alert", s.dead_letters.total > 0);
  const w = s.worker || {};
  $("tile-events").textContent = w.events_per_s === null || w.events_per_s === undefined ? "-" : num(w.events_per_s, 1);
  $("tile-decisions").textContent = w.decisions_per_s === null || w.decisions_per_s === undefined ? "-" : num(w.decisions_per_s, 1);
  $("tile-lag").textContent = w.lag === null || w.lag === undefined ? "-" : int(w.lag);
  const badge = $("worker");
  if (w.reachable) {
    badge.textContent = "worker: " + (w.ready ? "ready" : "starting") + (w.pricing_policy ? " (" + w.pricing_policy + ")" : "");
    badge.className = "badge " + (w.ready ? "ok" : "");
  } else {
    badge.textContent = w.url ? "worker: unreachable" : "worker: ?";
    badge.className = "badge bad";
    badge.title = w.url ? w.url + (w.error ? " (" + w.error + ")" : "") : "";
  }
  const reader = $("reader");
  reader.textContent = s.reader.error ? "kafka: " + s.reader.error : (s.reader.caught_up ? "kafka: following" : "kafka: reading history");
  reader.className = "badge " + (s.reader.error ? "bad" : (s.reader.caught_up ? "ok" : ""));
  renderFeed(s.feed);
  renderDeadLetters(s.dead_letters);
}

const seenFeed = new Set();
function renderFeed(items) {
  const body = $("feed").tBodies[0];
  const rows = items.map((item) => {
    const tr = el("tr");
    tr.dataset.eventId = item.event_id || "";
    tr.dataset.sku = item.sku;
    if (seenFeed.size && !seenFeed.has(item.event_id)) tr.classList.add("fresh");
    tr.append(el("td", time(item.event_time_ms)), el("td", item.segment ? item.sku + " \u00b7 " + item.segment : item.sku));
    if (item.kind === "price-change") {
      const change = item.old_price ? item.new_price / item.old_price - 1 : null;
      const td = el("td", (item.old_price === null ? "listed at " : num(item.old_price) + " \u2192 ") + num(item.new_price) + " ");
      if (change !== null) td.append(el("span", pct(change), change >= 0 ? "up" : "down"));
      tr.append(td);
    } else {
      tr.append(el("td", "restock " + item.quantity + " (position " + num(item.inventory_position, 0) +
                         ", reorder pt " + num(item.reorder_point, 1) + ")"));
    }
    tr.append(el("td", item.policy));
    const reasons = el("td", null, "reasons");
    for (const reason of item.reasons) reasons.append(el("span", reason, "chip"));
    tr.append(reasons);
    return tr;
  });
  body.replaceChildren(...rows);
  for (const item of items) seenFeed.add(item.event_id);
}

const seenLetters = new Set();
function renderDeadLetters(d) {
  $("dead-count").textContent = int(d.total);
  const codes = Object.entries(d.by_code).map(([code, n]) => el("span", code + " \u00d7" + n, "chip code"));
  $("dead-codes").replaceChildren(...codes);
  const rows = d.latest.map((letter) => {
    const tr = el("tr");
    tr.dataset.eventId = letter.event_id || "";
    if (seenLetters.size && !seenLetters.has(letter.event_id)) tr.classList.add("fresh");
    tr.append(el("td", time(letter.record_timestamp_ms)),
              el("td", letter.source_topic + "[" + letter.partition + "]@" + letter.offset),
              el("td", letter.key === null ? "-" : letter.key), el("td", letter.error_code, "code"),
              el("td", letter.error, "error"));
    return tr;
  });
  $("dead-letters").tBodies[0].replaceChildren(...rows);
  for (const letter of d.latest) seenLetters.add(letter.event_id);
}

// -- throughput and lag -----------------------------------------------------------------------------

function throughputTraces(samples) {
  const x = samples.map((s) => new Date(s.t));
  return [
    { x, y: samples.map((s) => s.events_per_s), name: "worker events/s", mode: "lines", line: { color: "#3366cc" } },
    { x, y: samples.map((s) => s.decisions_per_s), name: "decisions/s", mode: "lines", line: { color: "#1f7a4d" } },
    { x, y: samples.map((s) => s.lag), name: "consumer lag", mode: "lines", yaxis: "y2", line: { color: "#b3362f", dash: "dot" } },
  ];
}

function drawThroughput(samples) {
  const layout = {
    height: 170, margin: { l: 50, r: 50, t: 10, b: 30 }, legend: { orientation: "h", y: 1.15 },
    yaxis: { title: { text: "per second" }, rangemode: "tozero" },
    // whole messages: at least 0-5 on the axis, so a lag of 0 or 1 does not get fractional ticks
    yaxis2: { title: { text: "lag" }, overlaying: "y", side: "right", showgrid: false, tickformat: ",d",
              rangemode: "tozero", autorangeoptions: { include: [0, 5] } },
  };
  Plotly.react("chart-throughput", throughputTraces(samples), layout,
               { displaylogo: false, responsive: true, displayModeBar: false });
  throughputDrawn = true;
}

function extendThroughput(samples) {
  if (!throughputDrawn || !samples.length) return;
  const t = throughputTraces(samples);
  Plotly.extendTraces("chart-throughput", { x: t.map((tr) => tr.x), y: t.map((tr) => tr.y) }, [0, 1, 2], 300);
}

// -- the SKU table ------------------------------------------------------------------------------------

function queryString() {
  const p = new URLSearchParams({ q: view.q, sort: view.sort, desc: view.desc ? "1" : "0",
                                  offset: String(view.offset), limit: String(PAGE_SIZE) });
  return p.toString();
}

async function loadPage() {
  if (pageLoading) { pageAgain = true; return pageLoading; }
  pageLoading = (async () => {
    try {
      renderPage(await getJSON("/api/skus?" + queryString()));
    } finally {
      pageLoading = null;
      if (pageAgain) { pageAgain = false; loadPage(); }
    }
  })();
  return pageLoading;
}

function renderPage(page) {
  view.total = page.total;
  const rows = page.rows.map((r) => {
    const tr = el("tr");
    tr.dataset.sku = r.sku;
    if (r.sku === view.selected) tr.classList.add("selected");
    const vs = el("td", pct(r.vs_competitor), "num");
    if (r.vs_competitor !== null) vs.classList.add(r.vs_competitor > 0 ? "down" : "up");
    tr.append(el("td", r.sku), el("td", num(r.price), "num"), el("td", num(r.competitor_price), "num"), vs,
              el("td", num(r.floor), "num"), el("td", num(r.ceiling), "num"), el("td", num(r.forecast_units), "num"),
              el("td", int(r.observed_units), "num"), el("td", int(r.on_hand), "num"),
              el("td", num(r.reorder_point, 1), "num"), el("td", r.open_restock_units ? int(r.open_restock_units) : "-", "num"),
              el("td", r.dead_letters ? r.dead_letters : "-", "num"), el("td", time(r.last_change_ms)));
    tr.addEventListener("click", () => select(r.sku));
    return tr;
  });
  $("sku-table").tBodies[0].replaceChildren(...rows);
  if (!view.selected && page.rows.length) select(page.rows[0].sku);      // something to chart from the start
  const last = Math.min(page.offset + page.rows.length, page.total);
  $("page-info").textContent = page.total ? (page.offset + 1) + "\u2013" + last + " of " + page.total : "no SKUs";
  $("prev").disabled = page.offset === 0;
  $("next").disabled = last >= page.total;
  for (const th of document.querySelectorAll("#sku-table th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === view.sort);
    th.classList.toggle("desc", th.dataset.sort === view.sort && view.desc);
  }
}

// -- one SKU's charts -----------------------------------------------------------------------------------

function select(sku) {
  view.selected = sku;
  for (const tr of $("sku-table").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.sku === sku);
  loadDetail();
}

async function loadDetail() {
  if (!view.selected) return;
  if (detailLoading) { detailAgain = true; return detailLoading; }
  detailLoading = (async () => {
    try {
      const response = await fetch("/api/sku/" + encodeURIComponent(view.selected));
      if (response.status === 404) { $("detail-title").textContent = view.selected + " (delisted)"; return; }
      renderDetail(await response.json());
    } finally {
      detailLoading = null;
      if (detailAgain) { detailAgain = false; loadDetail(); }
    }
  })();
  return detailLoading;
}

function renderDetail(d) {
  $("detail-title").textContent = d.sku;
  const facts = [
    ["price", num(d.price)], ["cheapest rival", num(d.competitor_price)],
    ["floor", num(d.floor) + (d.floor_rule ? " (" + d.floor_rule + ")" : "")], ["ceiling", num(d.ceiling)],
    ["list price", num(d.list_price)], ["unit cost", num(d.unit_cost)],
    ["elasticity", d.elasticity === null ? "-" : num(d.elasticity) + " \u00b1" + num(d.elasticity_sd)],
    ["last reasons", d.last_reasons.join(", ") || "-"],
    ["on hand", int(d.on_hand)], ["open restocks", d.open_restocks + " (" + d.open_restock_units + " units)"],
  ];
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  const tl = d.timeline, x = dates(tl.t);
  const base = (title) => ({ height: 230, margin: { l: 50, r: 10, t: 28, b: 20 },
                             title: { text: title, font: { size: 13 }, x: 0.01, xanchor: "left" },
                             legend: { orientation: "h", y: -0.32 }, showlegend: true });
  const config = { displaylogo: false, responsive: true, displayModeBar: false };
  Plotly.react("chart-price", [
    { x, y: tl.price, name: "our price", mode: "lines", line: { shape: "hv", color: "#3366cc", width: 2 } },
    { x, y: tl.competitor_price, name: "cheapest rival", mode: "lines", line: { shape: "hv", color: "#e69138" } },
    { x, y: tl.floor, name: "floor", mode: "lines", line: { shape: "hv", color: "#999", dash: "dash" } },
    { x, y: tl.ceiling, name: "ceiling", mode: "lines", line: { shape: "hv", color: "#999", dash: "dot" } },
  ], base("price against the cheapest rival, floor and ceiling"), config);
  Plotly.react("chart-demand", [
    { x, y: tl.observed_units, name: "sold", type: "bar", marker: { color: "#9fc5e8" } },
    { x, y: tl.forecast_units, name: "forecast", mode: "lines+markers", line: { color: "#1f7a4d" }, marker: { size: 4 } },
  ], base("demand: forecast against sales, per period"), config);
  const orders = d.restock_orders;
  Plotly.react("chart-stock", [
    { x, y: tl.on_hand, name: "on hand", mode: "lines", line: { shape: "hv", color: "#674ea7" } },
    { x, y: tl.reorder_point, name: "reorder point", mode: "lines", line: { shape: "hv", color: "#b3362f", dash: "dash" } },
    { x: dates(orders.map((o) => o.t)), y: orders.map((o) => o.reorder_point), name: "restock order",
      mode: "markers", marker: { symbol: "triangle-up", size: 10, color: "#e69138" },
      text: orders.map((o) => "order " + o.quantity), hoverinfo: "x+text" },
  ], base("stock against the reorder point; restock orders"), config);
}

// -- live updates ------------------------------------------------------------------------------------

function follow() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "badge ok"; });
  source.addEventListener("error", () => { $("live").textContent = "reconnecting"; $("live").className = "badge bad"; });
  source.addEventListener("update", (event) => {
    const u = JSON.parse(event.data);
    renderSummary(u);
    extendThroughput(u.samples);
    if (u.changed.length || u.many_changed) loadPage();
    if (view.selected && (u.many_changed || u.changed.includes(view.selected))) loadDetail();
  });
}

function wire() {
  let typing = null;
  $("search").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { view.q = e.target.value; view.offset = 0; loadPage(); }, 200);
  });
  for (const th of document.querySelectorAll("#sku-table th[data-sort]")) {
    th.addEventListener("click", () => {
      view.desc = view.sort === th.dataset.sort ? !view.desc : false;
      view.sort = th.dataset.sort;
      view.offset = 0;
      loadPage();
    });
  }
  $("prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - PAGE_SIZE); loadPage(); });
  $("next").addEventListener("click", () => { view.offset += PAGE_SIZE; loadPage(); });
}

async function start() {
  wire();
  const summary = await getJSON("/api/summary");
  renderSummary(summary);
  drawThroughput(summary.samples);
  await loadPage();
  follow();
}

start();
