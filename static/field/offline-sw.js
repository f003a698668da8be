/* Restore24 field app, offline part of the service worker (imported by /field/sw.js).
 * The app shell is cached at install; pages under /field/ are network-first with the cached copy
 * as the fallback offline (the job list and the jobs visited stay readable); static files are
 * served from the cache and refreshed behind. Writes are never cached: app.js queues them. */
"use strict";

var SHELL_CACHE = "r24-field-shell-v1";
var PAGE_CACHE = "r24-field-pages-v1";
var SHELL = ["/field/", "/static/css/app.css", "/static/field/field.css", "/static/field/app.css",
             "/static/field/app.js", "/static/field/push.js", "/static/field/manifest.webmanifest",
             "/static/field/icon-192.png", "/static/field/icon-512.png"];

function keep(cacheName, request, response) {
  // only whole, first-hand answers: never a redirect to the login page or an error
  if (response && response.ok && !response.redirected && response.type === "basic") {
    var copy = response.clone();
    caches.open(cacheName).then(function (cache) { cache.put(request, copy); });
  }
  return response;
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    // one by one: a page that needs a login must not fail the whole install (and with it push)
    return Promise.all(SHELL.map(function (url) {
      return fetch(url, {credentials: "same-origin"}).then(function (resp) {
        return keep(url.indexOf("/static/") === 0 ? SHELL_CACHE : PAGE_CACHE, url, resp);
      }).catch(function () { return null; });
    }));
  }));
});

self.addEventListener("activate", function (event) {
  var current = [SHELL_CACHE, PAGE_CACHE];
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("r24-field-") === 0 && current.indexOf(k) < 0;
    }).map(function (k) { return caches.delete(k); }));
  }));
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
  if (!isPage || url.pathname.indexOf("/field/") !== 0 || url.pathname === "/field/sw.js") { return; }
  event.respondWith(fetch(request).then(function (resp) {
    return keep(PAGE_CACHE, request, resp);
  }).catch(function () {
    return caches.match(request, {ignoreSearch: true}).then(function (hit) {
      return hit || caches.match("/field/");
    }).then(function (hit) {
      return hit || new Response("offline", {status: 503, headers: {"Content-Type": "text/plain"}});
    });
  }));
});
