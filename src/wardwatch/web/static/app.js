// wardwatch pages: add the CSRF token to HTMX requests, draw the dashboard charts.
// No inline scripts anywhere (the Content-Security-Policy forbids them): data comes in data-* attributes.
"use strict";
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) { event.detail.headers["X-CSRF-Token"] = meta.content; }
});

var PALETTE = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d",
               "#4d7c0f", "#1d4ed8", "#9a3412", "#475569"];

// Risk bands (wardwatch.web.queries.RISK_BANDS), the same colours as the network map and app.css.
var RISK_COLOURS = { none: "#9aa5b1", low: "#15803d", medium: "#a16207", high: "#c2410c", critical: "#b91c1c" };

function drawCharts() {
  var holder = document.getElementById("chart-data");
  if (!holder || typeof Chart === "undefined") { return; }
  var data = JSON.parse(holder.getAttribute("data-chart"));
  function bar(id, pairs) {
    var el = document.getElementById(id);
    if (!el) { return; }
    new Chart(el, {
      type: "bar",
      data: { labels: pairs.map(function (p) { return p[0] || "unknown"; }),
              datasets: [{ label: "devices", data: pairs.map(function (p) { return p[1]; }), backgroundColor: PALETTE }] },
      options: { indexAxis: "y", animation: false, plugins: { legend: { display: false } } }
    });
  }
  bar("chart-type", data.by_type.slice(0, 12));
  bar("chart-category", data.by_category.slice(0, 12));
  var risk = document.getElementById("chart-risk");
  if (risk && data.risk_bands) {
    new Chart(risk, {
      type: "bar",
      data: { labels: data.risk_bands.map(function (p) { return p[0]; }),
              datasets: [{ label: "devices", data: data.risk_bands.map(function (p) { return p[1]; }),
                           backgroundColor: data.risk_bands.map(function (p) { return RISK_COLOURS[p[0]]; }) }] },
      options: { animation: false, plugins: { legend: { display: false } } }
    });
  }
  var trend = document.getElementById("chart-trend");
  if (trend) {
    new Chart(trend, {
      type: "line",
      data: { labels: data.trend.map(function (p) { return p[0]; }),
              datasets: [{ label: "devices known", data: data.trend.map(function (p) { return p[1]; }),
                           borderColor: "#0b5cad", backgroundColor: "#0b5cad", stepped: true }] },
      options: { animation: false, plugins: { legend: { display: false } } }
    });
  }
}
document.addEventListener("DOMContentLoaded", drawCharts);
