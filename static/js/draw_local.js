// Leaflet.draw's texts in the page's language: the template gives them as JSON (#leaflet-draw-strings),
// merged into L.drawLocal before the map script builds the Draw toolbar, which reads them then.
(function () {
  "use strict";
  var source = document.getElementById("leaflet-draw-strings");
  if (!source || !window.L || !L.drawLocal) { return; }
  function merge(into, from) {
    Object.keys(from).forEach(function (key) {
      if (from[key] && typeof from[key] === "object") {
        into[key] = into[key] || {};
        merge(into[key], from[key]);
      } else {
        into[key] = from[key];
      }
    });
  }
  merge(L.drawLocal, JSON.parse(source.textContent));
}());
