// The dispatcher's live map: loads the open orders of the current view from the GeoJSON feed into a
// marker-cluster group and a fault heat layer, keeps them fresh by polling (markers are updated in
// place by id), keeps the side list in step, searches open orders, and assigns from the popup.
// A station filter fits the map to that station's area (clearing it, to all the user's stations).
// Sets data-loaded (features on the map), data-refreshes (feeds applied), data-state, data-view (the
// station the view was fitted to, or "all") and data-assigned on #live-map; data-state on #map-search.
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
  var searchForm = document.getElementById("map-search");
  var searchClear = document.getElementById("map-search-clear");
  var notice = document.getElementById("map-notice");
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
  var openSeen = false;    // ... and it has been in a feed since (when it leaves the feed, the popup closes)
  var openAt = null;       // ... and where the popup stands
  var results = null;      // the search's orders while the side list shows them (null: the orders in view)
  var searchSeq = 0;
  // with no tile layer (TILES_URL empty) nothing gives the map a max zoom, which clustering needs
  if (map.options.maxZoom === undefined) { map.setMaxZoom(19); }
  // the popup's content width: a phone's map is narrower than 340 px plus the popup's padding and margins
  var popupWidth = Math.max(180, Math.min(340, box.clientWidth - 110));
  var popup = L.popup({maxWidth: popupWidth, minWidth: Math.min(260, popupWidth), autoPanPadding: [20, 20]});

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  // dispatchers know their technicians by name; the username only where no name was given
  function personName(t) { return t.full_name || t.username; }
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
    // an order that leaves the feed (resolved, cancelled, filtered out) loses its popup; one opened from a
    // search result the filters hide keeps it until it has been on the map once
    if (openId !== null) {
      if (markers[openId]) { openSeen = true; } else if (openSeen) { map.closePopup(popup); }
    }
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
  // The station filter moves the map to the station's area; "All" back to every station of the user's.
  // Leaflet drops a new view asked for during a zoom animation (a fly, a cluster opening), so the fit
  // waits for the animation's end; it jumps (no animation of its own) and gives up any fly under way.
  var zoomAnimating = false;
  var pendingFit = null;
  var flight = 0;          // flyTo()s started; a fly still under way gives up when another one or a fit starts
  map.on("zoomanim", function () { zoomAnimating = true; });
  map.on("zoomend", function () { zoomAnimating = false; applyFit(); });
  function fitToStation(code) {
    flight += 1;
    pendingFit = {view: code || "all", bounds: code ? cfg.stationBounds[code] : cfg.allBounds};
    applyFit();
  }
  function applyFit() {
    if (!pendingFit) { return; }
    if (zoomAnimating) { setTimeout(applyFit, 500); return; }  // zoomend applies it, or this does
    var fit = pendingFit;
    pendingFit = null;
    if (fit.bounds) { map.fitBounds(fit.bounds, {padding: [30, 30], animate: false}); }
    box.dataset.view = fit.view;
  }
  filters.addEventListener("change", function (e) {
    if (e.target && e.target.name === "station") { fitToStation(e.target.value); }
    refresh();
  });
  filters.addEventListener("submit", function (e) { e.preventDefault(); refresh(); });
  setInterval(function () { if (!document.hidden) { refresh(); } }, Math.max(2, cfg.pollSeconds) * 1000);

  // ---------------------------------------------------------------- side list
  function countdown(iso) {
    var ms = Date.parse(iso) - (Date.now() + skew);
    var mins = Math.floor(Math.abs(ms) / 60000);
    var text = mins >= 60 ? fmt(msg.hours, {h: Math.floor(mins / 60), m: mins % 60}) : fmt(msg.minutes, {m: mins});
    return fmt(ms > 0 ? msg.leftIn : msg.overdueBy, {time: text});
  }
  var listShown = null;  // what the side list shows now: rebuilt only when that changes
  function renderList() {
    if (results !== null) { listShown = null; return; }  // the side list shows the search's results
    var bounds = map.getBounds();
    var inView = ordered.filter(function (f) {
      var c = f.geometry.coordinates;
      return bounds.contains([c[1], c[0]]);
    });
    // a poll that brings the same orders leaves the list alone: replacing the buttons under a dispatcher's
    // pointer between press and release would lose the click
    var shown = JSON.stringify([inView.length, inView.slice(0, LIST_MAX).map(function (f) {
      var p = f.properties;
      return [p.id, p.number, p.sla_state, p.kind, p.status, p.station, p.technician_name || p.technician,
              categories[p.category] || p.category, countdown(p.deadline_at)];
    })]);
    if (shown === listShown) { return; }
    listShown = shown;
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
                         (p.station || "-") + " · " + (p.technician_name || p.technician || msg.nobody)));
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
  // Flies to an order and opens its popup: one on the map (a list click), or a search result at its point
  // (`at`), which the feed loads once the map is there — or never, when the filters hide it.
  function flyTo(id, at) {
    var m = markers[id];
    if (!m && !at) { return; }
    var target = m ? m.getLatLng() : L.latLng(at);
    var zoom = Math.max(map.getZoom(), 17);
    var opened = false;
    var revealed = false;
    var mine = ++flight;
    var open = function () { if (!opened && mine === flight) { opened = true; showPopup(id, target); } };
    // markercluster may never call back (or the fly never end) while another animation or a feed
    // refresh runs; the popup then opens at the order's point on a timer instead of not at all.
    var reveal = function () {
      if (revealed || mine !== flight) { return; }
      revealed = true;
      var shown = markers[id];
      if (shown && cluster.hasLayer(shown)) { cluster.zoomToShowLayer(shown, open); } else { open(); }
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
  function showPopup(id, at) {
    var m = markers[id];
    var where = m ? m.getLatLng() : (at || (openId === id ? openAt : null));
    if (!where) { return; }
    openId = id;
    openSeen = !!m;
    openAt = where;
    var wrap = el("div", "order-popup");
    wrap.dataset.order = id;
    wrap.appendChild(el("p", "muted", msg.loading));
    popup.setLatLng(where).setContent(wrap).openOn(map);
    Promise.all([getJson(cfg.orderUrl + id), getJson(cfg.orderUrl + id + "/candidates")]).then(function (res) {
      if (openId !== id) { return; }
      if (res[0][0] !== 200) { wrap.replaceChildren(el("p", "error", (res[0][1].error || {}).message || msg.error)); return; }
      fillPopup(wrap, res[0][1], res[1][0] === 200 ? res[1][1] : {items: [], assignable: false, why_not: msg.error});
      popup.update();
    }).catch(function () { wrap.replaceChildren(el("p", "error", msg.error)); });
  }
  map.on("popupclose", function (e) { if (e.popup === popup) { openId = null; } });

  function orderLink(id, text) {
    var a = el("a", null, text);
    a.href = cfg.orderPageUrl + encodeURIComponent(id);
    return a;
  }
  function fillPopup(wrap, order, answer) {
    var candidates = answer.items || [];
    wrap.replaceChildren();
    var h = el("h3", "popup-title");
    var title = orderLink(order.id, order.number);
    title.dataset.testid = "popup-link";
    h.appendChild(title);
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", "badge badge-" + order.sla_state, cfg.slaLabels[order.sla_state]));
    wrap.appendChild(h);
    row(wrap, msg.category, categories[order.category] || order.category);
    row(wrap, msg.customer, order.customer.name + " · " + order.customer.phone).dataset.testid = "popup-customer";
    // the API gives the deadline in the operator's zone (with its offset): show that wall-clock time
    row(wrap, msg.deadline, order.deadline_at.slice(0, 16).replace("T", " ") + " (" + countdown(order.deadline_at) + ")");
    row(wrap, msg.station, order.station || "-");
    var techRow = row(wrap, msg.technician, order.technician ? personName(order.technician) : msg.nobody);
    techRow.dataset.testid = "popup-technician";
    wrap.appendChild(el("h4", null, msg.candidates));
    var note = el("p", "popup-note muted");
    note.setAttribute("role", "status");
    if (!candidates.length) { wrap.appendChild(el("p", "muted", msg.noCandidates)); }
    var reason = null;
    if (order.technician && answer.assignable) {
      reason = el("input", "popup-reason");
      reason.type = "text";
      reason.maxLength = 500;
      reason.placeholder = msg.reason;
      reason.setAttribute("aria-label", msg.reason);
    }
    var ul = el("ul", "popup-candidates");
    candidates.forEach(function (c) {
      var li = el("li");
      li.appendChild(el("span", null, personName(c) + " · " + fmt(msg.km, {km: c.distance_km}) + " · " +
                        fmt(msg.load, {n: c.open_orders})));
      if (c.is_current) {
        li.appendChild(el("span", "badge", msg.current));
      } else if (answer.assignable) {  // the server's answer: who may, and in which statuses
        var b = el("button", "btn btn-small assign-btn", order.technician ? msg.reassign : msg.assign);
        b.type = "button";
        b.dataset.technician = c.username;
        b.addEventListener("click", function () { assign(order, c, reason, note, wrap); });
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
    wrap.appendChild(ul);
    if (!answer.assignable && answer.why_not) {  // say why there is no Assign button
      var why = el("p", "popup-why", answer.why_not);
      why.dataset.testid = "popup-why-not";
      wrap.appendChild(why);
    }
    if (reason) { wrap.appendChild(reason); }
    wrap.appendChild(note);
    var more = el("p", "popup-open");
    more.appendChild(orderLink(order.id, msg.openOrder));
    wrap.appendChild(more);
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
          p.technician_name = o.technician ? personName(o.technician) : null;
          p.sla_state = o.sla_state;
          p.station = o.station;
          m.setIcon(icon(p));
          renderList();
        }
        var t = o.technician || {username: cand.username};
        var who = t.full_name && t.full_name !== t.username ? t.full_name + " (" + t.username + ")" : t.username;
        notice.textContent = fmt(msg.done, {number: o.number, name: who});
        notice.classList.add("shown");
        box.dataset.assigned = String(o.id);
        showPopup(o.id);
        refresh();
        if (results !== null) { search(); }
      })
      .catch(function () { note.textContent = msg.error; note.classList.add("error"); });
  }

  // ---------------------------------------------------------------- search: the orders API's q (number,
  // customer's name, whole phone number, address), open orders only; the side list shows the results
  var SEARCH_MAX = 20;  // the orders API serialises each order in full: a page of them, then "be more precise"
  function search() {
    var q = searchForm.elements.q.value.trim();
    if (!q) { clearSearch(); return; }
    var mine = ++searchSeq;
    searchForm.dataset.state = "loading";
    listMore.textContent = msg.searching;
    var params = new URLSearchParams({q: q, queue: "open", per_page: String(SEARCH_MAX)});
    getJson(cfg.searchUrl + "?" + params.toString()).then(function (res) {
      if (mine !== searchSeq) { return; }
      if (res[0] !== 200) { showResults([], 0, (res[1].error || {}).message || msg.error); return; }
      showResults(res[1].items, res[1].total, "");
    }).catch(function () {
      if (mine === searchSeq) { showResults([], 0, msg.error); }
    });
  }
  function showResults(items, total, problem) {
    listShown = null;  // the list holds results now: the orders in view are drawn again after
    results = items;
    var frag = document.createDocumentFragment();
    items.forEach(function (o) {
      var li = el("li", "map-item map-result sla-" + o.sla_state);
      li.dataset.order = o.id;
      var located = o.lat !== null && o.lon !== null;
      var btn = located ? el("button", "map-item-btn") : orderLink(o.id);
      if (located) {
        btn.type = "button";
        btn.addEventListener("click", function () { flyTo(o.id, [o.lat, o.lon]); });
      } else {
        btn.className = "map-item-btn";
      }
      var head = el("span", "map-item-head");
      var dot = el("span", "order-dot sla-" + o.sla_state + " kind-" + o.kind);
      dot.appendChild(el("b", null, KIND_LETTER[o.kind] || "?"));
      head.appendChild(dot);
      head.appendChild(el("strong", null, " " + o.number + " "));
      head.appendChild(el("span", "badge badge-" + o.sla_state, cfg.slaLabels[o.sla_state]));
      btn.appendChild(head);
      // the phone as the API gives it: masked
      btn.appendChild(el("span", "map-item-line", o.customer.name + " · " + o.customer.phone));
      btn.appendChild(el("span", "map-item-line", o.address || "-"));
      btn.appendChild(el("span", "map-item-line muted", (cfg.statusLabels[o.status] || o.status) + " · " +
                         (o.station || "-") + " · " + (o.technician ? personName(o.technician) : msg.nobody)));
      if (!located) { btn.appendChild(el("span", "map-item-line muted", msg.noLocation)); }
      li.appendChild(btn);
      frag.appendChild(li);
    });
    list.replaceChildren(frag);
    sideTitle.textContent = fmt(msg.results, {n: total});
    listMore.textContent = problem || (total > items.length ? fmt(msg.moreResults, {n: total - items.length})
      : (total ? "" : msg.noResults));
    listMore.classList.toggle("error", !!problem);
    searchClear.hidden = false;
    box.dataset.listed = String(items.length);
    searchForm.dataset.state = problem ? "error" : "ready";
  }
  function clearSearch() {
    searchSeq += 1;
    results = null;
    searchForm.elements.q.value = "";
    searchClear.hidden = true;
    listMore.classList.remove("error");
    searchForm.dataset.state = "idle";
    renderList();
  }
  searchForm.addEventListener("submit", function (e) { e.preventDefault(); search(); });
  searchClear.addEventListener("click", function () { clearSearch(); searchForm.elements.q.focus(); });
  searchForm.elements.q.addEventListener("input", function () {
    if (!this.value && results !== null) { clearSearch(); }  // emptied (or the field's own clear button)
  });

  // ---------------------------------------------------------------- start
  searchForm.dataset.state = "idle";
  box.dataset.view = "all";
  if (filters.elements.station && filters.elements.station.value) {  // a filter the browser kept
    fitToStation(filters.elements.station.value);
  }
  getJson(cfg.categoriesUrl).then(function (res) {
    if (res[0] === 200) { res[1].items.forEach(function (c) { categories[c.code] = c.name; }); renderList(); }
  });
  statusLine.textContent = msg.loading;
  refresh();
}());
