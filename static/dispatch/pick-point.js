// A small map that fills a form's lat/lon inputs when the dispatcher clicks a point.
// Markup: <div class="pick-map" data-pick-map data-tiles="..." data-attribution="..." data-lat="" data-lon="">
// inside a <form> that has inputs named "lat" and "lon".
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }
  document.querySelectorAll("[data-pick-map]").forEach(function (el) {
    var form = el.closest("form");
    if (!form) { return; }
    var lat = form.querySelector('input[name="lat"]');
    var lon = form.querySelector('input[name="lon"]');
    var centre = [parseFloat(el.dataset.lat) || 22.54, parseFloat(el.dataset.lon) || 114.06];
    var map = L.map(el).setView(centre, 12);
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
    }
    var marker = null;
    function put(latlng) {
      if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
    }
    if (lat && lon && lat.value && lon.value) { put([parseFloat(lat.value), parseFloat(lon.value)]); }
    map.on("click", function (ev) {
      put(ev.latlng);
      if (lat) { lat.value = ev.latlng.lat.toFixed(6); }
      if (lon) { lon.value = ev.latlng.lng.toFixed(6); }
    });
    // Leaflet measures its box once: tell it again when the box changes (a closed <details> opened, the window
    // or the page's columns resized), else it draws for the old (often zero) size and clicks land wrong
    var details = el.closest("details");
    if (details) { details.addEventListener("toggle", function () { map.invalidateSize(); }); }
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () { map.invalidateSize(); }).observe(el);
    } else {
      window.addEventListener("resize", function () { map.invalidateSize(); });
    }
    el.dataset.ready = "1";
  });
})();
