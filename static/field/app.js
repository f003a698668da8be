/* Restore24 field app: countdowns, the offline action queue (IndexedDB) and its replay to
 * /field/sync, the position while on duty, the service worker, and clearing it all at logout. */
(function () {
  "use strict";
  var root = document.getElementById("field-app");
  if (!root) { return; }
  var d = root.dataset;
  var html = document.documentElement;
  var DB_NAME = "restore24-field", QUEUE = "queue", ATTENTION = "attention";
  var POSITION_EVERY_MS = 5 * 60 * 1000;
  var actionLabels = JSON.parse(d.actionLabels || "{}");

  function t(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_m, k) { return values[k]; });
  }

  /* ---------------------------------------------------------------- countdowns */
  function span(ms) {
    var min = Math.floor(Math.abs(ms) / 60000), h = Math.floor(min / 60), days = Math.floor(h / 24);
    if (days >= 1) { return t(d.tDays, {n: days}) + " " + t(d.tHours, {n: h % 24}); }
    if (h >= 1) { return t(d.tHours, {n: h}) + " " + t(d.tMinutes, {n: min % 60}); }
    return t(d.tMinutes, {n: min});
  }

  var loadedMs = Date.now();
  function tick() {
    var nowMs = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      // the server's rule (RepairOrder.sla_state): a paused clock stands still, so does its countdown;
      // exactly at the deadline is overdue, exactly at the warning time due soon
      var at = el.dataset.paused ? loadedMs : nowMs;
      var left = Date.parse(el.dataset.deadline) - at, warn = Date.parse(el.dataset.warn);
      var state = left <= 0 ? "overdue" : (at >= warn ? "due_soon" : "ok");
      el.textContent = left <= 0 ? t(d.tOverdue, {t: span(left)}) : t(d.tLeft, {t: span(left)});
      el.dataset.state = state;
      var card = el.closest(".job");
      if (card) { card.className = card.className.replace(/\bsla-\w+/, "") + " sla-" + state; }
    });
  }
  tick();
  setInterval(tick, 30000);

  /* ---------------------------------------------------------------- IndexedDB */
  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore(QUEUE, {keyPath: "seq", autoIncrement: true});
        req.result.createObjectStore(ATTENTION, {keyPath: "key"});
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function store(name, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(name, mode), result;
        var req = work(tx.objectStore(name));
        if (req) { req.onsuccess = function () { result = req.result; }; }
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function all(name) { return store(name, "readonly", function (s) { return s.getAll(); }); }

  /* ---------------------------------------------------------------- position */
  var lastPosition = null;

  function locate() {
    if (!d.onDuty || !navigator.geolocation) { return Promise.resolve(null); }
    return new Promise(function (resolve) {
      navigator.geolocation.getCurrentPosition(function (pos) {
        lastPosition = {lat: pos.coords.latitude, lon: pos.coords.longitude};
        resolve(lastPosition);
      }, function () { resolve(lastPosition); }, {timeout: 5000, maximumAge: 60000});
    });
  }

  function csrf() { return (document.querySelector('meta[name="csrf-token"]') || {}).content || ""; }

  function sendPosition() {
    if (!d.onDuty || !navigator.onLine) { return; }  // off duty nothing is sent
    locate().then(function (pos) {
      if (!pos) { return; }
      fetch(d.positionUrl, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify(pos)}).catch(function () {});
    });
  }
  if (d.onDuty) { sendPosition(); setInterval(sendPosition, POSITION_EVERY_MS); }

  /* ---------------------------------------------------------------- queue & replay */
  function randomKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  // every action carries the time it was tapped: the server records it as the time taken, even when the
  // phone sends it an hour later (the SLA clock and the scorecards go by it)
  function tapped() { return new Date().toISOString(); }

  function enqueue(item) {
    item.key = randomKey();
    item.at = item.at || tapped();
    return store(QUEUE, "readwrite", function (s) { return s.add(item); });
  }

  var flushing = null, conflicts = 0;
  var leaving = false;  // a page on its way out never reloads itself over the page asked for

  // after a replay: the page again, or My jobs when something needs attention (the job may be gone)
  function afterSync(sent) {
    if (!sent || leaving) { return; }
    if (conflicts) { window.location.assign(d.homeUrl); } else { window.location.reload(); }
  }

  function flush() {
    if (flushing) { return flushing; }
    if (!navigator.onLine) { return Promise.resolve(false); }
    flushing = all(QUEUE).then(function (items) {
      if (!items.length) { return false; }
      // a fresh token: a page read from the cache may carry an old one
      return fetch(d.syncUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error("sync " + r.status); } return r.json(); })
        .then(function (tok) {
          var body = items.map(function (it) {
            var copy = {}; Object.keys(it).forEach(function (k) { if (k !== "seq") { copy[k] = it[k]; } });
            return copy;
          });
          return fetch(d.syncUrl, {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "Accept": "application/json",
                      "X-CSRFToken": tok.csrf_token},
            body: JSON.stringify({items: body})});
        })
        .then(function (r) { if (!r.ok) { throw new Error("sync " + r.status); } return r.json(); })
        .then(function (answer) {
          var byKey = {};
          answer.results.forEach(function (res) { byKey[res.key] = res; });
          return store(QUEUE, "readwrite", function (s) {
            items.forEach(function (it) { if (byKey[it.key]) { s.delete(it.seq); } });
          }).then(function () {
            conflicts = 0;
            return store(ATTENTION, "readwrite", function (s) {
              items.forEach(function (it) {
                var res = byKey[it.key];
                if (res && res.outcome !== "applied" && res.outcome !== "duplicate") {
                  conflicts += 1;
                  s.put({key: it.key, order_id: it.order_id, action: it.action, at: it.at,
                         message: res.message || String(res.status)});
                }
              });
            });
          }).then(function () { return true; });
        });
    }).catch(function () { return false; }).then(function (sent) {
      flushing = null;
      return render().then(function () { return sent; });
    });
    return flushing;
  }

  /* ---------------------------------------------------------------- what the page shows */
  var actions = document.querySelector("[data-testid=actions]");

  function predicted(queue) {
    if (!actions) { return null; }
    var status = actions.dataset.status, next = JSON.parse(actions.dataset.next);
    queue.forEach(function (it) {
      if (String(it.order_id) === actions.dataset.orderId) { status = next[it.action] || status; }
    });
    return status;
  }

  function render() {
    return Promise.all([all(QUEUE), all(ATTENTION)]).then(function (both) {
      var queue = both[0], attention = both[1];
      var pending = root.querySelector(".pending");
      pending.hidden = !queue.length;
      pending.textContent = t(d.tPending, {n: queue.length});
      html.dataset.pending = String(queue.length);
      var box = root.querySelector(".attention"), list = box.querySelector(".attention-list");
      list.textContent = "";
      attention.forEach(function (a) {
        var li = document.createElement("li");
        li.textContent = (actionLabels[a.action] || a.action) + " · #" + a.order_id + " — " + a.message;
        list.appendChild(li);
      });
      box.hidden = !attention.length;
      if (actions) {
        var status = predicted(queue), sources = JSON.parse(actions.dataset.sources);
        actions.dataset.predicted = status;
        actions.querySelectorAll(".action-form").forEach(function (f) {
          f.hidden = (sources[f.dataset.action] || []).indexOf(status) < 0;
        });
      }
    }).catch(function () {});
  }

  // the banner: offline, or this page is the phone's saved copy (the service worker got no answer); with the
  // time the copy was saved. Its live region announces it.
  function online() {
    var copy = Boolean(html.dataset.offlineCopy), banner = root.querySelector(".offline-banner");
    var saved = banner.querySelector(".offline-saved"), at = Date.parse(html.dataset.savedAt || "");
    banner.hidden = navigator.onLine && !copy;
    saved.hidden = !copy || isNaN(at);
    if (!saved.hidden) {  // in the operator's zone, as every other time on the page
      var options = {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false};
      var shown;
      try {
        shown = new Date(at).toLocaleString(html.lang || undefined, Object.assign({timeZone: d.timezone}, options));
      } catch (e) {  // a zone this browser does not know: its own
        shown = new Date(at).toLocaleString(html.lang || undefined, options);
      }
      saved.textContent = t(saved.dataset.tSaved, {t: shown});
    }
    html.dataset.online = navigator.onLine ? "1" : "";
  }

  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("action-form")) { return; }
    event.preventDefault();
    var item = {order_id: Number(actions.dataset.orderId), action: form.dataset.action,
                note: form.note ? form.note.value : "", at: tapped()};  // before the position is looked up
    var button = form.querySelector("button");
    button.disabled = true;
    locate().then(function (pos) {
      if (pos) { item.lat = pos.lat; item.lon = pos.lon; }
      return enqueue(item);
    }).then(function () {
      if (!navigator.onLine) { return render().then(function () { return false; }); }
      return flush();
    }).then(function (sent) {
      button.disabled = false;
      afterSync(sent);
    });
  });

  var resolveForm = document.querySelector(".resolve-form");
  if (resolveForm) {
    var scan = resolveForm.querySelector(".scan"), lines = resolveForm.querySelector(".part-lines");
    var addCode = function (code, isSerial) {
      var codes = lines.querySelectorAll("input[name=part_code]");
      for (var i = 0; i < codes.length; i++) {
        if (codes[i].value.trim().toUpperCase() === code) {
          if (isSerial) { return; }  // one unit is one line
          var qty = codes[i].parentNode.querySelector("input[name=part_qty]");
          qty.value = String(Number(qty.value || 1) + 1);
          return;
        }
      }
      var blank = Array.prototype.filter.call(codes, function (c) { return !c.value.trim(); })[0];
      if (!blank) {
        var li = lines.lastElementChild.cloneNode(true);
        li.querySelectorAll("[data-testid=part-code], [data-testid=part-qty]").forEach(function (el) {
          el.removeAttribute("data-testid");  // those name the first line only
        });
        li.querySelector("input[name=part_qty]").value = "1";
        lines.appendChild(li);
        blank = li.querySelector("input[name=part_code]");
      }
      blank.value = code;
    };
    scan.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();  // a scanner "types" the code and presses Enter: add a line, don't submit
      var code = scan.value.trim().toUpperCase();
      scan.value = "";
      if (code) { addCode(code); }
    });
    resolveForm.addEventListener("click", function (event) {
      var add = event.target.closest(".add-part"), remove = event.target.closest(".part-remove");
      if (add) { addCode(add.dataset.code, true); return; }  // a serial number picked from the van list
      if (!remove) { return; }
      var line = remove.closest(".part-line");
      if (lines.querySelectorAll(".part-line").length > 1) {
        line.parentNode.removeChild(line);
      } else {  // the last line stays, emptied, for the next part
        line.querySelector("input[name=part_code]").value = "";
        line.querySelector("input[name=part_qty]").value = "1";
      }
      scan.focus();
    });
    resolveForm.addEventListener("submit", function (event) {
      var at = tapped();
      if (navigator.onLine) {
        resolveForm.taken_at.value = at;
        if (lastPosition) { resolveForm.lat.value = lastPosition.lat; resolveForm.lon.value = lastPosition.lon; }
        return;  // online: the form goes as it is (photos included)
      }
      event.preventDefault();  // offline: queue it (photos need a connection)
      var parts = [], codes = resolveForm.querySelectorAll("input[name=part_code]");
      codes.forEach(function (c) {
        var code = c.value.trim().toUpperCase();
        var qty = Number(c.parentNode.querySelector("input[name=part_qty]").value || 1);
        if (code) { parts.push({code: code, qty: qty}); }  // the server tells serials from SKUs
      });
      var item = {order_id: Number(resolveForm.dataset.orderId), action: "resolve", note: resolveForm.note.value,
                  resolution_code: resolveForm.resolution_code.value, parts: parts, at: at};
      if (resolveForm.loan_serial.value.trim()) { item.loan = {serial: resolveForm.loan_serial.value.trim()}; }
      if (resolveForm.collected_serial.value.trim()) {
        item.collected = {serial: resolveForm.collected_serial.value.trim()};
      }
      var submit = resolveForm.querySelector("[type=submit]");
      submit.disabled = true;  // once: it is queued
      enqueue(item).then(function () {
        resolveForm.querySelector(".queued-note").hidden = false;
        return render();
      });
    });
  }

  /* ---------------------------------------------------------------- logout clears this phone */
  document.querySelectorAll("form[action$='/logout']").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.cleared) { return; }
      event.preventDefault();
      all(QUEUE).catch(function () { return []; }).then(function (queue) {
        if (queue.length && !window.confirm(d.tLogoutPending)) { return null; }
        var wipe = [new Promise(function (resolve) {
          var req = indexedDB.deleteDatabase(DB_NAME);
          req.onsuccess = req.onerror = req.onblocked = function () { resolve(); };
        })];
        if (window.caches) {
          wipe.push(caches.keys().then(function (keys) {
            return Promise.all(keys.map(function (k) { return caches.delete(k); }));
          }));
        }
        return Promise.all(wipe).catch(function () {}).then(function () {
          form.dataset.cleared = "1";
          form.submit();
        });
      });
    });
  });

  /* ---------------------------------------------------------------- service worker */
  // My jobs, loaded online: have the service worker save every job's page and resolve page (and the
  // offline page, in this language), so that each opens offline even if it was never visited
  function precache(reg) {
    var links = document.querySelectorAll("[data-testid=jobs] a.job-link");
    if (!links.length && !document.querySelector("[data-testid=landing]")) { return; }
    if (!reg.active || !navigator.onLine || html.dataset.offlineCopy) { return; }
    var urls = [d.homeUrl, d.offlineUrl];
    links.forEach(function (a) {
      var path = new URL(a.href, window.location.href).pathname;
      urls.push(path, path.replace(/\/$/, "") + "/resolve");
    });
    var channel = new MessageChannel();
    channel.port1.onmessage = function (event) { html.dataset.precached = String(event.data.saved); };
    reg.active.postMessage({type: "precache", urls: urls}, [channel.port2]);
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(d.swUrl, {scope: d.swScope}).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      html.dataset.sw = reg.active ? "active" : "installing";
      precache(reg);
    }).catch(function () { html.dataset.sw = "failed"; });
  }

  root.querySelector(".attention-clear").addEventListener("click", function () {
    store(ATTENTION, "readwrite", function (s) { return s.clear(); }).then(render);
  });

  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pagehide", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });
  window.addEventListener("online", function () {
    online();
    if (!navigator.onLine) { return; }
    flush().then(function (sent) {
      if (leaving) { return; }
      // a saved copy is replaced by the page itself as soon as the connection is back
      if (!sent && html.dataset.offlineCopy) { window.location.reload(); } else { afterSync(sent); }
    });
  });
  window.addEventListener("offline", online);
  online();
  // the page's own width, for checks that nothing scrolls sideways on a phone
  html.dataset.docWidth = String(document.documentElement.scrollWidth);
  html.dataset.viewWidth = String(document.documentElement.clientWidth);
  render().then(function () { return flush(); }).then(function (sent) {
    html.dataset.ready = "1";
    afterSync(sent);
  });
}());
