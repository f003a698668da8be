// The station coverage editor: the Draw toolbar edits the textarea's GeoJSON, and every change
// asks the server where the area overlaps its neighbours or leaves gaps, drawn in red / orange.
(function () {
  "use strict";
  var box = document.getElementById("area-editor");
  if (!box) { return; }
  var map = window[box.dataset.map];
  var drawn = window["drawnItems_" + box.dataset.draw];
  var field = document.getElementById("coverage");
  var report = document.getElementById("area-report");
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var marks = L.featureGroup().addTo(map);

  // Leaflet puts a string tooltip in with innerHTML; a node keeps a station code plain text.
  function textNode(text) {
    var node = document.createElement("span");
    node.textContent = text;
    return node;
  }

  function load() {
    drawn.clearLayers();
    if (!field.value.trim()) { return; }
    try {
      L.geoJSON(JSON.parse(field.value)).eachLayer(function (layer) { drawn.addLayer(layer); });
      if (drawn.getLayers().length) { map.fitBounds(drawn.getBounds(), {maxZoom: 15}); }
    } catch (e) { report.textContent = box.dataset.msgBadJson; }
  }

  function save() {
    var polygons = [];
    drawn.eachLayer(function (layer) {
      var g = layer.toGeoJSON().geometry;
      if (g.type === "Polygon") { polygons.push(g.coordinates); }
      if (g.type === "MultiPolygon") { polygons = polygons.concat(g.coordinates); }
    });
    if (!polygons.length) { field.value = ""; }
    else if (polygons.length === 1) { field.value = JSON.stringify({type: "Polygon", coordinates: polygons[0]}); }
    else { field.value = JSON.stringify({type: "MultiPolygon", coordinates: polygons}); }
    check();
  }

  function check() {
    marks.clearLayers();
    if (!field.value.trim()) { report.textContent = ""; return; }
    fetch(box.dataset.checkUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({coverage: field.value, station_id: box.dataset.stationId || null})
    }).then(function (r) { return r.json().then(function (body) { return [r.status, body]; }); })
      .then(function (res) {
        var body = res[1];
        if (res[0] !== 200) { report.textContent = body.error ? body.error.message : box.dataset.msgBadJson; return; }
        body.overlaps.forEach(function (o) {
          L.geoJSON(o.geometry, {style: {color: "#c62828", weight: 1, fillOpacity: 0.5}})
            .bindTooltip(textNode(o.code + ": " + o.area_m2 + " m²")).addTo(marks);
        });
        body.gaps.forEach(function (g) {
          L.geoJSON(g.geometry, {style: {color: "#e8a100", weight: 1, fillOpacity: 0.5}})
            .bindTooltip(textNode(g.area_m2 + " m²")).addTo(marks);
        });
        report.textContent = (body.overlaps.length || body.gaps.length)
          ? box.dataset.msgIssues.replace("{overlaps}", body.overlaps.length).replace("{gaps}", body.gaps.length)
          : box.dataset.msgClean;
        report.dataset.overlaps = body.overlaps.length;
        report.dataset.gaps = body.gaps.length;
      });
  }

  map.on("draw:created draw:edited draw:deleted", function () { setTimeout(save, 0); });
  field.addEventListener("change", function () { load(); check(); });
  load();
  check();
}());
