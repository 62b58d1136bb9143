/* covgap web map: runs, layers, legend, point queries, statistics, gap clusters.
   Everything comes from this server (no internet needed). */
(function () {
  "use strict";

  const state = { runs: [], run: null, layer: null, overlay: null, base: null, clusters: null, opacity: 0.8 };
  const map = L.map("map", { zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  window.covgap = { map: map, state: state };

  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const enc = encodeURIComponent;

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return esc(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    const a = Math.abs(v);
    return a >= 100 ? Math.round(v).toLocaleString("en") : a >= 1 ? v.toFixed(1) : v.toPrecision(3);
  }

  function getJSON(url) {
    return fetch(url).then((r) => r.json().then((body) => {
      if (!r.ok) throw new Error(body.message || r.statusText);
      return body;
    }));
  }

  function overlayLayers(run) { return run.layers.filter((l) => l.kind !== "hillshade"); }

  function tileUrl(run, layer) { return "/tiles/" + enc(run) + "/" + enc(layer) + "/{z}/{x}/{y}{r}.png"; }

  function boundsOf(b) { return L.latLngBounds([b[1], b[0]], [b[3], b[2]]); }

  function selectRun(name) {
    const run = state.runs.find((r) => r.name === name);
    state.run = run;
    $("run-select").value = name;
    $("run-title").textContent = run.title;
    const note = $("provenance-note");
    const md = run.metadata || {};
    if (md.sites_provenance === "modelled") {
      note.hidden = false;
      note.textContent = "Sites are modelled, not real: " + (md.sites_method || "derived from population and terrain") +
        ". Coverage shown here is an estimate, not an operator's network.";
    } else {
      note.hidden = true;
    }
    if (state.base) map.removeLayer(state.base);
    const hill = run.layers.find((l) => l.kind === "hillshade");
    if (hill) {
      state.base = L.tileLayer(tileUrl(run.name, hill.name), {
        bounds: boundsOf(hill.bounds), maxZoom: 18, minZoom: 0, zIndex: 1,
        attribution: (run.attribution || []).map(esc).join(" · "),
      }).addTo(map);
    } else {
      state.base = null;
      (run.attribution || []).forEach((a) => map.attributionControl.addAttribution(esc(a)));
    }
    const list = $("layer-list");
    list.innerHTML = "";
    overlayLayers(run).forEach((l) => {
      const label = document.createElement("label");
      label.innerHTML = '<input type="radio" name="layer" value="' + esc(l.name) + '"> ' + esc(l.long_name || l.name) +
        (l.units && l.units !== "1" ? ' <span class="units">(' + esc(l.units) + ")</span>" : "");
      label.querySelector("input").addEventListener("change", () => selectLayer(l.name));
      list.appendChild(label);
    });
    const keep = state.layer && run.layers.some((l) => l.name === state.layer) ? state.layer : null;
    const preferred = keep || (overlayLayers(run).find((l) => l.name === "uncovered_population") ||
      overlayLayers(run).find((l) => l.name.startsWith("covered_")) || overlayLayers(run)[0] || {}).name;
    if (!state.fitted) { map.fitBounds(boundsOf(run.bounds)); state.fitted = true; }
    if (preferred) selectLayer(preferred);
    loadStats(run);
    loadClusters(run);
    renderDownloads();
  }

  function selectLayer(name) {
    const run = state.run;
    const layer = run.layers.find((l) => l.name === name);
    state.layer = name;
    const radio = document.querySelector('#layer-list input[value="' + CSS.escape(name) + '"]');
    if (radio) radio.checked = true;
    if (state.overlay) map.removeLayer(state.overlay);
    state.overlay = L.tileLayer(tileUrl(run.name, name), {
      bounds: boundsOf(layer.bounds), opacity: state.opacity, maxZoom: 18, zIndex: 5,
    }).addTo(map);
    loadLegend(run.name, name);
    renderDownloads();
  }

  function loadLegend(run, layer) {
    const box = $("legend");
    getJSON("/api/legend/" + enc(run) + "/" + enc(layer)).then((lg) => {
      if (state.layer !== layer) return;
      let html = '<div class="muted">' + esc(lg.long_name) + (lg.units && lg.units !== "1" ? " (" + esc(lg.units) + ")" : "") + "</div>";
      if (lg.stops) {
        const grad = lg.stops.map((s, i) => s.color + " " + (100 * i / (lg.stops.length - 1)) + "%").join(", ");
        html += '<div class="ramp" style="background: linear-gradient(to right, ' + grad + ')"></div>' +
          '<div class="ramp-labels"><span>' + fmt(lg.vmin) + "</span><span>" + fmt(lg.vmax) +
          (lg.scale === "log" ? " (log scale)" : "") + "</span></div>";
        if (lg.zero_transparent) html += '<div class="muted">0 is not drawn</div>';
      } else if (lg.classes && lg.classes.length) {
        html += lg.classes.map((c) => '<div class="legend-class"><span class="swatch" style="background:' + c.color +
          '"></span>' + esc(c.label) + "</div>").join("");
      } else {
        html += '<div class="muted">' + esc(lg.note || "") + "</div>";
      }
      box.innerHTML = html;
    }).catch((e) => { box.textContent = "Legend unavailable: " + e.message; });
  }

  const EXTRA_LABELS = { gap_clusters: "Gap clusters (GeoJSON)", sites: "Sites (GeoJSON)",
    indicators_csv: "Indicators (CSV)", gap_clusters_csv: "Gap clusters (CSV)" };

  function renderDownloads() {
    const run = state.run;
    if (!run) return;
    const links = [];
    if (state.layer) links.push(["/download/" + enc(run.name) + "/" + enc(state.layer) + ".tif", state.layer + ".tif (GeoTIFF)"]);
    Object.entries(run.extras || {}).forEach(([key, file]) => {
      links.push(["/download/" + enc(run.name) + "/" + enc(file), EXTRA_LABELS[key] || file]);
    });
    $("downloads").innerHTML = links.map((l) => '<a download href="' + l[0] + '">' + esc(l[1]) + "</a>").join("");
  }

  function statsTable(obj) {
    const rows = [];
    const nested = [];
    Object.entries(obj).forEach(([k, v]) => {
      if (v && typeof v === "object" && !Array.isArray(v)) nested.push([k, v]);
      else rows.push("<tr><th>" + esc(k.replace(/_/g, " ")) + '</th><td class="num">' + fmt(v) + "</td></tr>");
    });
    let html = rows.length ? "<table>" + rows.join("") + "</table>" : "";
    nested.forEach(([k, v]) => { html += '<div class="stats-group">' + esc(k.replace(/_/g, " ")) + "</div>" + statsTable(v); });
    return html;
  }

  const pct = (v) => (v === null || v === undefined ? "–" : v.toFixed(1) + "%");
  const bar = (v) => (v === null || v === undefined ? "" : '<div class="bar"><span style="width:' + Math.min(100, v).toFixed(1) + '%"></span></div>');

  /* Indicators in the covgap.indicators/1 layout (see covgap.statistics.indicators). */
  function indicatorsPanel(s) {
    const all = s.groups.all_operators;
    const techs = (s.technologies || Object.keys(all.total.at_least)).filter((t) => all.total.at_least[t]);
    let html = "<table><tr><th>People</th><td class=\"num\">" + fmt(s.total_population) + "</td></tr>" +
      "<tr><th>Without any service</th><td class=\"num\">" + fmt(s.uncovered_population) + "</td></tr></table>";
    html += '<div class="stats-group">Coverage by technology (at least)</div><table id="stats-tech"><tr><th></th><th>people</th><th>share</th><th></th></tr>';
    techs.forEach((t) => {
      const b = all.total.at_least[t];
      html += "<tr><th>" + esc(t) + '</th><td class="num">' + fmt(b.covered_population) + '</td><td class="num">' +
        pct(b.covered_pct) + "</td><td>" + bar(b.covered_pct) + "</td></tr>";
    });
    html += "</table>";
    const zones = all.urbanisation || {};
    if (zones.urban && zones.rural) {
      html += '<div class="stats-group">Urban vs rural</div><table id="stats-urban-rural"><tr><th></th><th>urban</th><th>rural</th><th>gap</th></tr>';
      techs.forEach((t) => {
        const gap = (all.rural_urban_gap_pp || {})[t];
        html += "<tr><th>" + esc(t) + '</th><td class="num">' + pct(zones.urban.at_least[t].covered_pct) + '</td><td class="num">' +
          pct(zones.rural.at_least[t].covered_pct) + '</td><td class="num">' + (gap === null || gap === undefined ? "–" : gap.toFixed(1) + " pp") + "</td></tr>";
      });
      html += "</table>";
    }
    const operators = Object.keys(s.groups).filter((g) => g !== "all_operators");
    if (operators.length) {
      html += '<div class="stats-group">By operator (at least)</div><table><tr><th></th>' + techs.map((t) => "<th>" + esc(t) + "</th>").join("") + "</tr>";
      operators.forEach((op) => {
        html += "<tr><th>" + esc(op) + "</th>" + techs.map((t) => '<td class="num">' + pct(s.groups[op].total.at_least[t].covered_pct) + "</td>").join("") + "</tr>";
      });
      html += "</table>";
    }
    return html;
  }

  function loadStats(run) {
    const box = $("stats");
    getJSON("/api/stats/" + enc(run.name)).then((s) => {
      if (state.run !== run) return;
      box.innerHTML = s.groups && s.groups.all_operators ? indicatorsPanel(s) : statsTable(s);
    }).catch((e) => { box.innerHTML = '<p class="muted">No statistics: ' + esc(e.message) + "</p>"; });
  }

  function loadClusters(run) {
    if (state.clusters) { map.removeLayer(state.clusters); state.clusters = null; }
    const file = (run.extras || {}).gap_clusters;
    if (!file) return;
    getJSON("/download/" + enc(run.name) + "/" + enc(file)).then((gj) => {
      if (state.run !== run) return;
      state.clusters = L.geoJSON(gj, {
        style: { color: "#7b3294", weight: 2, fill: true, fillOpacity: 0.05, dashArray: "4 3" },
        onEachFeature: (f, lyr) => {
          const p = f.properties || {};
          const key = Object.keys(p).find((k) => k.includes("population"));
          lyr.bindTooltip("Gap cluster" + (p.cluster_id !== undefined ? " " + esc(p.cluster_id) : "") +
            (key ? ": " + fmt(p[key]) + " people without coverage" : ""), { sticky: true });
        },
      });
      if ($("show-clusters").checked) state.clusters.addTo(map);
    }).catch(() => {});
  }

  function pointPopup(latlng) {
    const run = state.run;
    const url = "/api/point/" + enc(run.name) + "?lon=" + latlng.lng.toFixed(6) + "&lat=" + latlng.lat.toFixed(6);
    const popup = L.popup({ maxWidth: 360 }).setLatLng(latlng).setContent("Loading…").openOn(map);
    getJSON(url).then((p) => {
      let html = '<div class="point-popup"><h3>' + latlng.lat.toFixed(5) + ", " + latlng.lng.toFixed(5) + "</h3>";
      if (!p.inside) html += '<p class="muted">Outside the analysed area.</p>';
      html += '<table class="point-values">' + Object.entries(p.values).map(([name, v]) =>
        "<tr><th>" + esc(name) + '</th><td class="num">' + (v.label ? esc(v.label) : fmt(v.value)) +
        (v.value !== null && v.units && v.units !== "1" ? " " + esc(v.units) : "") + "</td></tr>").join("") + "</table>";
      if (p.best_server) {
        html += '<div class="stats-group">Best server</div><table class="best-server">';
        Object.entries(p.best_server).forEach(([tech, s]) => {
          html += "<tr><th>" + esc(tech) + "</th><td>" + (s ? esc(s.site_id || "#" + s.index) + " " +
            esc(s.operator || "") + ", " + fmt(s.distance_m / 1000) + " km" : "none") + "</td></tr>";
        });
        html += "</table>";
      } else if (p.best_server_note) {
        html += '<p class="muted">' + esc(p.best_server_note) + "</p>";
      }
      popup.setContent(html + "</div>");
    }).catch((e) => popup.setContent("Point query failed: " + esc(e.message)));
  }

  $("run-select").addEventListener("change", (e) => selectRun(e.target.value));
  $("opacity").addEventListener("input", (e) => {
    state.opacity = e.target.value / 100;
    $("opacity-value").textContent = e.target.value + "%";
    if (state.overlay) state.overlay.setOpacity(state.opacity);
  });
  $("show-clusters").addEventListener("change", (e) => {
    if (!state.clusters) return;
    if (e.target.checked) state.clusters.addTo(map); else map.removeLayer(state.clusters);
  });
  map.on("click", (e) => pointPopup(e.latlng));

  getJSON("/api/runs").then((runs) => {
    state.runs = runs;
    const select = $("run-select");
    select.innerHTML = runs.map((r) => '<option value="' + esc(r.name) + '">' + esc(r.title || r.name) + "</option>").join("");
    if (runs.length) selectRun(runs[0].name);
    document.body.dataset.ready = "true";
  }).catch((e) => { $("stats").textContent = "Cannot load runs: " + e.message; });
})();
