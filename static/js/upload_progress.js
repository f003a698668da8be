// Forms marked data-progress upload with a visible progress bar, then show the server's answer.
(function () {
  "use strict";
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var bar = form.querySelector("progress");
    var status = form.querySelector("[data-role=status]");
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");  // indeterminate while the server checks every row
        status.textContent = form.dataset.msgProcessing;
      });
      xhr.addEventListener("load", function () {
        document.open();
        document.write(xhr.responseText);
        document.close();
        history.replaceState(null, "", form.action);
      });
      xhr.addEventListener("error", function () { status.textContent = form.dataset.msgFailed; bar.hidden = true; });
      xhr.send(new FormData(form));
    });
  });
}());
