/* Restore24: turn Web Push alerts on or off for this device.
 * Registers the service worker (/field/sw.js, scope /field/), asks permission, subscribes
 * with the server's VAPID key and posts PushSubscription.toJSON() to the server. */
(function () {
  "use strict";
  var card = document.getElementById("push-card");
  if (!card) { return; }
  var button = document.getElementById("push-toggle");
  var status = document.getElementById("push-status");
  var d = card.dataset;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function say(text) { status.textContent = text; }

  function keyBytes(base64url) {
    var pad = "=".repeat((4 - (base64url.length % 4)) % 4);
    var raw = atob((base64url + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function send(method, body) {
    return fetch(d.subscriptionsUrl, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body)
    }).then(function (resp) {
      if (!resp.ok && resp.status !== 404) {
        var err = new Error("server answered " + resp.status);
        err.status = resp.status;
        throw err;
      }
      return resp;
    });
  }

  function show(subscribed) {
    button.textContent = subscribed ? d.labelOff : d.labelOn;
    button.dataset.subscribed = subscribed ? "1" : "";
    say(subscribed ? d.msgOn : d.msgOff);
  }

  function registration() {
    return navigator.serviceWorker.register(d.swUrl, {scope: d.swScope})
      .then(function () { return navigator.serviceWorker.getRegistration(d.swScope); })
      .then(function (reg) { return reg || navigator.serviceWorker.ready; });
  }

  function turnOn() {
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { say(d.msgDenied); return null; }
      return Promise.all([registration(), fetch(d.keyUrl, {credentials: "same-origin"}).then(function (r) {
        if (!r.ok) { throw new Error("no VAPID key"); }
        return r.json();
      })]).then(function (both) {
        var reg = both[0], key = both[1].publicKey;
        return reg.pushManager.getSubscription().then(function (old) {
          return old ? old.unsubscribe() : true;  // a subscription made with another key would fail
        }).then(function () {
          return reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: keyBytes(key)});
        });
      }).then(function (sub) {
        return send("POST", sub.toJSON()).then(function () { show(true); });
      });
    });
  }

  function turnOff() {
    return registration().then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (sub) {
        if (!sub) { show(false); return null; }
        var endpoint = sub.endpoint;
        return sub.unsubscribe().then(function () { return send("DELETE", {endpoint: endpoint}); })
          .then(function () { show(false); });
      });
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    card.hidden = false;
    button.disabled = true;
    say(d.msgUnsupported);
    return;
  }
  card.hidden = false;
  registration().then(function (reg) { return reg.pushManager.getSubscription(); })
    .then(function (sub) {
      show(Boolean(sub) && Notification.permission === "granted");
      if (sub && Notification.permission === "granted") {
        send("POST", sub.toJSON()).catch(function (err) {  // keep the server's copy current
          // 409: this browser's subscription belongs to someone who did not log out here; it is
          // theirs, so drop it here; turning alerts on again makes a new one for this user
          if (err.status === 409) { return sub.unsubscribe().then(function () { show(false); }); }
          return null;
        });
      }
    })
    .catch(function () { show(false); });

  button.addEventListener("click", function () {
    button.disabled = true;
    (button.dataset.subscribed ? turnOff() : turnOn())
      .catch(function () { say(d.msgError); })
      .then(function () { button.disabled = false; });
  });
}());
