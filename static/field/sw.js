/* Restore24 service worker (served at /field/sw.js, scope /field/).
 * Shows each push alert and opens its page when tapped. The payload is the JSON
 * {type, title, body, url, order?, tag} that field/push.py encrypts for this device. */
"use strict";
importScripts("/static/field/offline-sw.js");  // the field app's offline cache (issue 6)

var ICON = "/static/field/icon-192.png";
var BADGE = "/static/field/badge-72.png";  // monochrome: Android shows its alpha in the status bar

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {body: event.data ? event.data.text() : ""}; }
  var url = (typeof data.url === "string" && data.url.charAt(0) === "/" && data.url.charAt(1) !== "/") ? data.url : "/";
  event.waitUntil(self.registration.showNotification(data.title || "Restore24", {
    body: data.body || "",
    icon: ICON,
    badge: BADGE,
    // The same tag replaces a notification already shown (a newer alert about the same
    // order, or a copy re-sent after a server crash) instead of stacking a second one.
    tag: data.tag || undefined,
    renotify: false,
    data: {url: url, order: data.order || null, type: data.type || ""}
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({type: "window", includeUncontrolled: true}).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url === target && "focus" in windows[i]) { return windows[i].focus(); }
    }
    for (var j = 0; j < windows.length; j++) {  // reuse an open app window if there is one
      if ("navigate" in windows[j] && "focus" in windows[j]) {
        // navigate() works only on windows this worker controls (/field/); else open a new one
        return windows[j].focus().then(function (w) { return w.navigate(target); })
          .catch(function () { return self.clients.openWindow(target); });
      }
    }
    return self.clients.openWindow(target);
  }));
});
