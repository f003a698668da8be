// The dispatcher's live map: loads the open orders of the current view from the GeoJSON feed into a
// marker-cluster group and a fault heat layer, keeps them fresh by polling (markers are updated in
// place by id), keeps the side list in step, and assigns from the popup.
// Sets data-loaded (features on the map), data-refreshes (feeds applied) and data-state on #live-map.
(function () {
  "use strict";
  var cfgEl = document.getElementById("map-config");
  if (!cfgEl) { return; }
  var cfg = JSON.parse(cfgEl.textContent);
  var msg = cfg.msg;
  var map = window[cfg.mapName];
  var control = window.liveMapLayers;
  var box = document.getElementById("live-map");
  var statusLine = document.getElementById("map-status");
  var list = document.getElementById("map-list");
  var listMore = document.getElementById("map-list-more");
  var sideTitle = document.getElementById("side-title");
  var filters = document.getElementById("map-filters");
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var LIST_MAX = 200;
  var SLA_RANK = {ok: 0, due_soon: 1, overdue: 2};
  var KIND_LETTER = {fault: "F", installation: "I", relocation: "R", complaint_visit: "C"};

  var markers = {};        // order id -> L.Marker (marker.feature holds the latest feature)
  var ordered = [];        // features of the last feed, soonest deadline first
  var categories = {};     // code -> label
  var seq = 0;             // requests sent; only the newest answer is applied
  var refreshes = 0;
  var skew = 0;            // server clock minus this browser's clock (countdowns follow the server)
  var openId = null;       // the order whose popup is open
  // with no tile layer (TILES_URL empty) nothing gives the map a max zoom, which clustering needs
  if (map.options.maxZoom === undefined) { map.setMaxZoom(19); }
  var popup = L.popup({maxWidth: 340, minWidth: 260, autoPanPadding: [20, 20]});

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // ---------------------------------------------------------------- markers and clusters
  // Icons, popups and the list are built as DOM nodes with textContent: feed values never become HTML.
  function icon(p) {
    var dot = el("span", "order-dot sla-" + p.sla_state + " kind-" + p.kind);
    dot.dataset.order = p.id;
    dot.appendChild(el("b", null, KIND_LETTER[p.kind] || "?"));
    return L.divIcon({className: "order-icon", html: dot, iconSize: [22, 22], iconAnchor: [11, 11]});
  }
  var afterChunks = null;  // runs once chunked loading has added every marker of a feed
  var cluster = L.markerClusterGroup({
    chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45, disableClusteringAtZoom: 17,
    chunkProgress: function (processed, total) {
      if (processed === total && afterChunks) { var done = afterChunks; afterChunks = null; done(); }
    },
    iconCreateFunction: function (c) {
      var worst = 0;
      var children = c.getAllChildMarkers();
      for (var i = 0; i < children.length && worst < 2; i++) {
        worst = Math.max(worst, SLA_RANK[children[i].feature.properties.sla_state] || 0);
      }
      var n = c.getChildCount();  // a number: the only thing put in as HTML
      var size = n < 10 ? "small" : (n < 100 ? "medium" : "large");
      return L.divIcon({html: "<div><span>" + n + "</span></div>",
                        className: "marker-cluster marker-cluster-" + size + " cluster-" + ["ok", "due_soon", "overdue"][worst],
                        iconSize: L.point(40, 40)});
    }
  });
  cluster.addTo(map);
  var heat = L.heatLayer([], {radius: 20, blur: 16, maxZoom: 16});
  if (control) {
    control.addOverlay(cluster, msg.orders);
    control.addOverlay(heat, msg.heat);
  }

  function makeMarker(f) {
    var c = f.geometry.coordinates;
    var m = L.marker([c[1], c[0]], {icon: icon(f.properties), keyboard: false,
                                    title: f.properties.number});
    m.feature = f;
    m.on("click", function () { showPopup(m.feature.properties.id); });
    return m;
  }

  function apply(fc) {
    if (fc.generated_at) { skew = Date.parse(fc.generated_at) - Date.now(); }
    var seen = {};
    var add = [];
    var remove = [];
    var changed = [];
    fc.features.forEach(function (f) {
      var id = f.id;
      seen[id] = true;
      var m = markers[id];
      if (!m) {
        m = makeMarker(f);
        markers[id] = m;
        add.push(m);
        return;
      }
      var old = m.feature;
      var p = f.properties;
      var q = old.properties;
      m.feature = f;
      if (old.geometry.coordinates[0] !== f.geometry.coordinates[0] ||
          old.geometry.coordinates[1] !== f.geometry.coordinates[1]) {
        cluster.removeLayer(m);
        m.setLatLng([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
        add.push(m);
      } else if (q.sla_state !== p.sla_state || q.kind !== p.kind) {
        m.setIcon(icon(p));
        changed.push(m);
      }
    });
    Object.keys(markers).forEach(function (id) {
      if (!seen[id]) { remove.push(markers[id]); delete markers[id]; }
    });
    if (remove.length) { cluster.removeLayers(remove); }
    if (changed.length) { cluster.refreshClusters(changed); }
    ordered = fc.features;
    heat.setLatLngs(ordered.filter(function (f) { return f.properties.kind === "fault"; })
      .map(function (f) { return [f.geometry.coordinates[1], f.geometry.coordinates[0], 1]; }));
    if (openId !== null && !markers[openId]) { map.closePopup(popup); }
    renderList();
    if (add.length) {
      afterChunks = function () { finished(fc); };
      cluster.addLayers(add);
    } else {
      finished(fc);
    }
  }

  function finished(fc) {
    refreshes += 1;
    var now = new Date();
    statusLine.textContent = fmt(msg.updated, {time: pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" +
                                                     pad(now.getSeconds())});
    statusLine.classList.remove("error");
    // for the benchmark: milliseconds fetching + parsing, then drawing
    box.dataset.fetchMs = String(Math.round(fc.timing.fetched - fc.timing.start));
    box.dataset.drawMs = String(Math.round(performance.now() - fc.timing.fetched));
    box.dataset.loaded = String(fc.features.length);
    box.dataset.refreshes = String(refreshes);
    box.dataset.state = "ready";
  }

  // ---------------------------------------------------------------- the feed
  function bboxParam() {
    var b = map.getBounds().pad(0.2);
    var clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)); };
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180),
            clamp(b.getNorth(), -90, 90)].map(function (v) { return v.toFixed(5); }).join(",");
  }
  function feedUrl() {
    var params = new URLSearchParams();
    params.set("bbox", bboxParam());
    new FormData(filters).forEach(function (value, key) { if (value) { params.set(key, value); } });
    return cfg.feedUrl + "?" + params.toString();
  }
  function refresh() {
    var mine = ++seq;
    var t0 = performance.now();
    box.dataset.state = "loading";
    return fetch(feedUrl(), {credentials: "same-origin", headers: {"Accept": "application/geo+json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (fc) {
        if (mine !== seq) { return; }
        fc.timing = {start: t0, fetched: performance.now()};
        apply(fc);
      })
      .catch(function () {
        if (mine !== seq) { return; }
        statusLine.textContent = msg.failed;
        statusLine.classList.add("error");
        box.dataset.state = "error";
      });
  }
  var moveTimer = null;
  map.on("moveend", function () {
    renderList();
    clearTimeout(moveTimer);
    moveTimer = setTimeout(refresh, 250);
  });
  filters.addEventListener("change", function () { refresh(); });
  filters.addEventListener("submit", function (e) { e.preventDefault(); refresh(); });
  setInterval(function () { if (!document.hidden) { refresh(); } }, Math.max(2, cfg.pollSeconds) * 1000);

  // ---------------------------------------------------------------- side list
  function countdown(iso) {
    var ms = Date.parse(iso) - (Date.now() + skew);
    var mins = Math.floor(Math.abs(ms) / 60000);
    var text = mins >= 60 ? fmt(msg.hours, {h: Math.floor(mins / 60), m: mins % 60}) : fmt(msg.minutes, {m: mins});
    return fmt(ms > 0 ? msg.leftIn : msg.overdueBy, {time: text});
  }
  function renderList() {
    var bounds = map.getBounds();
    var inView = ordered.filter(function (f) {
      var c = f.geometry.coordinates;
      return bounds.contains([c[1], c[0]]);
    });
    var frag = document.createDocumentFragment();
    inView.slice(0, LIST_MAX).forEach(function (f) {
      var p = f.properties;
      var li = el("li", "map-item sla-" + p.sla_state);
      li.dataset.order = p.id;
      var btn = el("button", "map-item-btn");
      btn.type = "button";
      var head = el("span", "map-item-head");
      var dot = el("span", "order-dot sla-" + p.sla_state + " kind-" + p.kind);
      dot.appendChild(el("b", null, KIND_LETTER[p.kind]));
      head.appendChild(dot);
      head.appendChild(el("strong", null, " " + p.number + " "));
      head.appendChild(el("span", "badge badge-" + p.sla_state, cfg.slaLabels[p.sla_state]));
      btn.appendChild(head);
      btn.appendChild(el("span", "map-item-line", (categories[p.category] || p.category) + " · " +
                         (p.station || "-") + " · " + (p.technician || msg.nobody)));
      btn.appendChild(el("span", "map-item-line muted", (cfg.statusLabels[p.status] || p.status) + " · " +
                         countdown(p.deadline_at)));
      btn.addEventListener("click", function () { flyTo(p.id); });
      li.appendChild(btn);
      frag.appendChild(li);
    });
    list.replaceChildren(frag);
    sideTitle.textContent = fmt(msg.inView, {n: inView.length});
    listMore.textContent = inView.length > LIST_MAX ? fmt(msg.more, {n: inView.length - LIST_MAX})
      : (inView.length ? "" : msg.none);
    box.dataset.listed = String(Math.min(inView.length, LIST_MAX));
  }
  function flyTo(id) {
    var m = markers[id];
    if (!m) { return; }
    var target = m.getLatLng();
    var zoom = Math.max(map.getZoom(), 17);
    var opened = false;
    var revealed = false;
    var open = function () { if (!opened) { opened = true; showPopup(id); } };
    // markercluster may never call back (or the fly never end) while another animation or a feed
    // refresh runs; the popup then opens at the order's point on a timer instead of not at all.
    var reveal = function () {
      if (revealed) { return; }
      revealed = true;
      cluster.zoomToShowLayer(m, open);
      setTimeout(open, 1000);
    };
    if (map.getCenter().distanceTo(target) < 1 && map.getZoom() === zoom) { reveal(); return; }
    map.once("moveend", reveal);
    map.flyTo(target, zoom, {duration: 0.6});
    setTimeout(reveal, 1500);
  }

  // ---------------------------------------------------------------- popup: details, candidates, assign
  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); });
  }
  function row(parent, label, value) {
    var d = el("div", "popup-row");
    d.appendChild(el("span", "muted", label + ": "));
    d.appendChild(el("span", null, value));
    parent.appendChild(d);
    return d;
  }
  function showPopup(id) {
    var m = markers[id];
    if (!m) { return; }
    openId = id;
    var wrap = el("div", "order-popup");
    wrap.dataset.order = id;
    wrap.appendChild(el("p", "muted", msg.loading));
    popup.setLatLng(m.getLatLng()).setContent(wrap).openOn(map);
    Promise.all([getJson(cfg.orderUrl + id), getJson(cfg.orderUrl + id + "/candidates")]).then(function (res) {
      if (openId !== id) { return; }
      if (res[0][0] !== 200) { wrap.replaceChildren(el("p", "error", (res[0][1].error || {}).message || msg.error)); return; }
      fillPopup(wrap, res[0][1], res[1][0] === 200 ? res[1][1].items : []);
      popup.update();
    }).catch(function () { wrap.replaceChildren(el("p", "error", msg.error)); });
  }
  map.on("popupclose", function (e) { if (e.popup === popup) { openId = null; } });

  function fillPopup(wrap, order, candidates) {
    wrap.replaceChildren();
    var h = el("h3", "popup-title", order.number + " ");
    h.appendChild(el("span", "badge badge-" + order.sla_state, cfg.slaLabels[order.sla_state]));
    wrap.appendChild(h);
    row(wrap, msg.category, categories[order.category] || order.category);
    row(wrap, msg.customer, order.customer.name + " · " + order.customer.phone).dataset.testid = "popup-customer";
    // the API gives the deadline in the operator's zone (with its offset): show that wall-clock time
    row(wrap, msg.deadline, order.deadline_at.slice(0, 16).replace("T", " ") + " (" + countdown(order.deadline_at) + ")");
    row(wrap, msg.station, order.station || "-");
    var techRow = row(wrap, msg.technician, order.technician ? order.technician.username : msg.nobody);
    techRow.dataset.testid = "popup-technician";
    wrap.appendChild(el("h4", null, msg.candidates));
    var note = el("p", "popup-note muted");
    note.setAttribute("role", "status");
    if (!candidates.length) { wrap.appendChild(el("p", "muted", msg.noCandidates)); }
    var reason = null;
    if (order.technician) {
      reason = el("input", "popup-reason");
      reason.type = "text";
      reason.maxLength = 500;
      reason.placeholder = msg.reason;
      reason.setAttribute("aria-label", msg.reason);
    }
    var ul = el("ul", "popup-candidates");
    candidates.forEach(function (c) {
      var li = el("li");
      li.appendChild(el("span", null, c.username + " · " + fmt(msg.km, {km: c.distance_km}) + " · " +
                        fmt(msg.load, {n: c.open_orders})));
      if (c.is_current) {
        li.appendChild(el("span", "badge", msg.current));
      } else if (["new", "assigned", "accepted"].indexOf(order.status) >= 0) {
        var b = el("button", "btn btn-small assign-btn", order.technician ? msg.reassign : msg.assign);
        b.type = "button";
        b.dataset.technician = c.username;
        b.addEventListener("click", function () { assign(order, c, reason, note, wrap); });
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
    wrap.appendChild(ul);
    if (reason) { wrap.appendChild(reason); }
    wrap.appendChild(note);
  }

  function assign(order, cand, reason, note, wrap) {
    var body = {technician_id: cand.technician_id, version: order.version};
    if (reason) {
      body.reason = reason.value.trim();
      if (!body.reason) { note.textContent = msg.reasonNeeded; note.classList.add("error"); reason.focus(); return; }
    }
    wrap.querySelectorAll(".assign-btn").forEach(function (b) { b.disabled = true; });
    fetch(cfg.orderUrl + order.id + "/assign", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
      .then(function (res) {
        if (res[0] !== 200) {
          note.textContent = (res[1].error || {}).message || msg.error;
          note.classList.add("error");
          wrap.querySelectorAll(".assign-btn").forEach(function (b) { b.disabled = false; });
          return;
        }
        var o = res[1];
        var m = markers[o.id];
        if (m) {   // at once, before the feed confirms it
          var p = m.feature.properties;
          p.status = o.status;
          p.technician = o.technician ? o.technician.username : null;
          p.sla_state = o.sla_state;
          p.station = o.station;
          m.setIcon(icon(p));
          renderList();
        }
        box.dataset.assigned = String(o.id);
        showPopup(o.id);
        refresh();
      })
      .catch(function () { note.textContent = msg.error; note.classList.add("error"); });
  }

  // ---------------------------------------------------------------- start
  getJson(cfg.categoriesUrl).then(function (res) {
    if (res[0] === 200) { res[1].items.forEach(function (c) { categories[c.code] = c.name; }); renderList(); }
  });
  statusLine.textContent = msg.loading;
  refresh();
}());
