// The network map: positions come from the server (subnet clusters), so Cytoscape only draws
// (a "preset" layout: no force simulation, which would not scale to thousands of nodes).
"use strict";
var PALETTE = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d",
               "#4d7c0f", "#1d4ed8", "#9a3412", "#475569"];

// Risk bands (wardwatch.web.queries.RISK_BANDS); devices without a score are grey.
var RISK_COLOURS = { none: "#9aa5b1", low: "#15803d", medium: "#a16207", high: "#c2410c", critical: "#b91c1c" };

document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("network");
  var status = document.getElementById("network-status");
  if (!box || typeof cytoscape === "undefined") { return; }
  fetch("/api/v1/network", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (graph) {
      var types = {};
      graph.nodes.forEach(function (n) { if (!(n.device_type in types)) { types[n.device_type] = PALETTE[Object.keys(types).length % PALETTE.length]; } });
      var elements = [];
      graph.subnets.forEach(function (s) {
        elements.push({ group: "nodes", data: { id: "subnet:" + s.subnet, label: s.subnet + " (" + s.devices + ")" },
                        position: { x: s.x, y: s.y - 40 - 30 * Math.sqrt(s.devices) }, classes: "subnet", selectable: false });
      });
      graph.nodes.forEach(function (n) {
        elements.push({ group: "nodes", data: { id: String(n.id), label: n.label, ip: n.ip || "", color: RISK_COLOURS[n.risk_band] || RISK_COLOURS.none,
                                                typeColor: types[n.device_type], riskColor: RISK_COLOURS[n.risk_band] || RISK_COLOURS.none,
                                                band: n.risk_band, type: n.device_type },
                        position: { x: n.x, y: n.y } });
      });
      graph.edges.forEach(function (e, i) {
        elements.push({ group: "edges", data: { id: "e" + i, source: String(e.source), target: String(e.target) } });
      });
      var cy = cytoscape({
        container: box, elements: elements, layout: { name: "preset" },
        textureOnViewport: true, hideEdgesOnViewport: true, motionBlur: false, pixelRatio: 1,
        minZoom: 0.02, maxZoom: 4, boxSelectionEnabled: false,
        style: [
          { selector: "node", style: { "background-color": "data(color)", width: 16, height: 16, label: "data(label)",
                                       "font-size": 8, "min-zoomed-font-size": 9, color: "#1b1f24" } },
          { selector: "node.subnet", style: { "background-opacity": 0, width: 1, height: 1, "font-size": 18,
                                              "font-weight": "bold", "min-zoomed-font-size": 4, color: "#102a43" } },
          { selector: "node:selected", style: { "border-width": 4, "border-color": "#ffbf47" } },
          { selector: "edge", style: { width: 1, "line-color": "#9aa5b1", opacity: 0.5, "curve-style": "haystack" } }
        ]
      });
      cy.fit(undefined, 20);
      cy.on("dbltap", "node", function (evt) { if (!evt.target.hasClass("subnet")) { window.location = "/devices/" + evt.target.id(); } });
      box.addEventListener("keydown", function (ev) {
        var sel = cy.$("node:selected");
        if (ev.key === "Enter" && sel.length) { window.location = "/devices/" + sel[0].id(); }
        if (ev.key === "+" || ev.key === "=") { cy.zoom(cy.zoom() * 1.25); }
        if (ev.key === "-") { cy.zoom(cy.zoom() / 1.25); }
        if (ev.key === "0") { cy.fit(undefined, 20); }
      });
      var find = document.getElementById("network-find");
      if (find) {
        find.addEventListener("keydown", function (ev) {
          if (ev.key !== "Enter") { return; }
          ev.preventDefault();
          var term = find.value.toLowerCase();
          var hit = cy.nodes().filter(function (n) { return !n.hasClass("subnet") && term &&
            ((n.data("label") || "").toLowerCase().indexOf(term) >= 0 || n.data("ip").indexOf(term) === 0); });
          cy.$(":selected").unselect();
          if (hit.length) { hit[0].select(); cy.animate({ center: { eles: hit[0] }, zoom: 1.5 }, { duration: 200 }); box.focus(); }
        });
      }
      var legend = document.getElementById("network-legend");
      function drawLegend(colours) {
        while (legend.firstChild) { legend.removeChild(legend.firstChild); }
        Object.keys(colours).forEach(function (t) {
          var item = document.createElement("span");
          var sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = colours[t];
          item.appendChild(sw); item.appendChild(document.createTextNode(t === "none" ? "no risk score" : t)); legend.appendChild(item);
        });
      }
      // Coloured by risk band by default (the map's question: where is the risk?); by device type on demand.
      var colourBy = document.getElementById("network-colour");
      function recolour() {
        var byType = colourBy && colourBy.value === "type";
        cy.batch(function () {
          cy.nodes().forEach(function (n) { if (!n.hasClass("subnet")) { n.data("color", byType ? n.data("typeColor") : n.data("riskColor")); } });
        });
        drawLegend(byType ? types : RISK_COLOURS);
        box.setAttribute("data-colour", byType ? "type" : "risk");
      }
      if (colourBy) { colourBy.addEventListener("change", recolour); }
      recolour();
      status.textContent = graph.nodes.length + " devices, " + graph.edges.length + " device-to-device links, " +
        graph.subnets.length + " subnets" + (graph.truncated ? " (first " + graph.nodes.length + " of " + graph.total + " devices)" : "") + ".";
      box.setAttribute("data-ready", "true");
    })
    .catch(function (err) { status.textContent = "Could not load the map: " + err.message; });
});
