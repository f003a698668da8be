// The top menu on a phone (templates/base.html): folded behind the "Menu" button, opened and closed by it
// (and by Escape). Without this script the menu simply stays open, wrapped under the brand.
(function () {
  "use strict";
  var button = document.querySelector(".nav-toggle");
  var nav = document.getElementById("mainnav");
  if (!button || !nav) { return; }
  var bar = button.closest(".topbar");
  function set(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    bar.classList.toggle("nav-open", open);
  }
  bar.classList.add("has-nav-toggle");
  button.addEventListener("click", function () { set(button.getAttribute("aria-expanded") !== "true"); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && button.getAttribute("aria-expanded") === "true") { set(false); button.focus(); }
  });
})();
