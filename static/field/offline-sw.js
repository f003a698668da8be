/* Restore24 field app, offline part of the service worker (imported by /field/sw.js).
 * The app shell is cached at install; pages under /field/ are network-first with the cached copy of that
 * same page as the fallback offline. My jobs asks for the pages of the technician's jobs (and their resolve
 * pages) to be saved ("precache" message), so a job never opened before still opens offline. A page with
 * no copy gets the honest offline page, never another page under its address. A copy served offline is
 * marked (<html data-offline-copy data-saved-at>): app.js shows the offline banner and hides its stale
 * flash messages. Static files are served from the cache and refreshed behind. Writes are never cached:
 * app.js queues them. */
"use strict";

var SHELL_CACHE = "r24-field-shell-v2";
var PAGE_CACHE = "r24-field-pages-v2";
var OFFLINE_PAGE = "/field/offline";
var SHELL = ["/field/", OFFLINE_PAGE, "/static/css/app.css", "/static/img/icon.svg", "/static/field/field.css", "/static/field/app.css",
             "/static/field/app.js", "/static/field/push.js", "/static/field/manifest.webmanifest",
             "/static/field/icon-192.png", "/static/field/icon-512.png"];
// when not even the offline page is saved (never logged in on this phone while online)
var BARE_OFFLINE = "<!doctype html><html><head><meta charset=\"utf-8\">" +
  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Restore24</title></head>" +
  "<body><main data-testid=\"offline-page\"><p role=\"status\">You are offline. This page is not saved on this " +
  "phone.</p><p lang=\"zh-CN\">您已离线。本机没有保存此页面。</p><p><a href=\"/field/\">My jobs · 我的工单</a></p>" +
  "</main></body></html>";

function isAppPage(url) {
  return url.origin === self.location.origin && url.pathname.indexOf("/field/") === 0 &&
    url.pathname !== "/field/sw.js" && url.pathname !== "/field/sync";
}

function save(cacheName, request, response) {
  // only whole, first-hand answers: never a redirect to the login page or an error
  if (!(response && response.ok && !response.redirected && response.type === "basic")) {
    return Promise.resolve(false);
  }
  var headers = new Headers(response.headers);
  headers.set("X-R24-Saved-At", new Date().toISOString());  // shown offline: "saved on this phone at"
  headers.delete("Content-Length");
  return response.clone().blob().then(function (body) {
    return caches.open(cacheName).then(function (cache) {
      return cache.put(request, new Response(body, {status: response.status, statusText: response.statusText,
                                                    headers: headers}));
    });
  }).then(function () { return true; }, function () { return false; });
}

function keep(cacheName, request, response) {
  save(cacheName, request, response);
  return response;
}

// a saved page as served offline: marked as a copy (and the time it was saved, unless it stands in for
// another page), with the status given
function offlineCopy(hit, status) {
  return hit.text().then(function (text) {
    var saved = status ? "" : (hit.headers.get("X-R24-Saved-At") || "").replace(/[^0-9TZ:.+-]/g, "");
    var headers = new Headers(hit.headers);
    headers.delete("Content-Length");
    return new Response(text.replace(/<html/i, "<html data-offline-copy=\"1\" data-saved-at=\"" + saved + "\""),
                        {status: status || 200, headers: headers});
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(Promise.all(SHELL.map(function (url) {
    // one by one: a page that needs a login must not fail the whole install (and with it push)
    return fetch(url, {credentials: "same-origin"}).then(function (resp) {
      return save(url.indexOf("/static/") === 0 ? SHELL_CACHE : PAGE_CACHE, url, resp);
    }).catch(function () { return null; });
  })));
});

self.addEventListener("activate", function (event) {
  var current = [SHELL_CACHE, PAGE_CACHE];
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("r24-field-") === 0 && current.indexOf(k) < 0;
    }).map(function (k) { return caches.delete(k); }));
  }));
});

// My jobs, loaded online, sends the pages to keep: {type: "precache", urls: [...]}; the answer on the port
// is {saved: n} once they are all in the cache
self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type !== "precache" || !Array.isArray(data.urls)) { return; }
  var urls = data.urls.slice(0, 200).filter(function (u) {
    try { return typeof u === "string" && isAppPage(new URL(u, self.location.origin)); } catch (e) { return false; }
  });
  var done = urls.reduce(function (chain, u) {  // one at a time: the phone's connection is shared
    return chain.then(function (n) {
      return fetch(u, {credentials: "same-origin", headers: {"Accept": "text/html"}}).then(function (resp) {
        return save(PAGE_CACHE, new URL(u, self.location.origin).href, resp);
      }).catch(function () { return false; }).then(function (ok) { return n + (ok ? 1 : 0); });
    });
  }, Promise.resolve(0)).then(function (n) {
    if (event.ports && event.ports[0]) { event.ports[0].postMessage({saved: n}); }
  });
  event.waitUntil(done);
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) {
      var fresh = fetch(request).then(function (resp) { return keep(SHELL_CACHE, request, resp); });
      return hit || fresh;
    }));
    return;
  }
  var isPage = request.mode === "navigate" || (request.headers.get("accept") || "").indexOf("text/html") >= 0;
  if (!isPage || !isAppPage(url)) { return; }
  event.respondWith(fetch(request).then(function (resp) {
    return keep(PAGE_CACHE, request, resp);
  }).catch(function () {
    // this page's own copy, else the page saying there is none: never another page under this address
    return caches.match(request, {ignoreSearch: true, ignoreVary: true}).then(function (hit) {
      if (hit) { return offlineCopy(hit); }
      return caches.match(OFFLINE_PAGE, {ignoreVary: true}).then(function (page) {
        return page ? offlineCopy(page, 503) : new Response(BARE_OFFLINE, {
          status: 503, headers: {"Content-Type": "text/html; charset=utf-8"}});
      });
    });
  }));
});
