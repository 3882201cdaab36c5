// The image bank's upload form (<form class="upload">) with a progress bar: a ZIP of a study's portraits
// can take minutes to travel on a hospital's connection, and a page that seems frozen gets reloaded (and
// the upload restarted). The form is sent as the browser would send it; the page the server answers (the
// bank with its "Added ..." message, or every problem found) then replaces this one. Without JavaScript
// the form posts as usual. Served as a file: no inline script.
(function () {
  "use strict";

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + " MB";
  }

  function show(page, url) {
    var parsed = new DOMParser().parseFromString(page, "text/html");
    document.title = parsed.title;
    document.body.replaceWith(parsed.body);
    if (url && url !== window.location.href) {
      window.history.replaceState(null, "", url);
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.upload") || !window.FormData || !window.XMLHttpRequest) { return; }
    var bar = form.querySelector("progress.upload");
    var status = form.querySelector(".upload-status");
    var button = form.querySelector("button[type=submit]");
    if (!bar || !status) { return; }
    event.preventDefault();
    bar.hidden = false;
    status.hidden = false;
    status.textContent = "Uploading…";
    button.disabled = true;
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.upload.addEventListener("progress", function (progress) {
      if (!progress.lengthComputable) { return; }
      var percent = Math.floor(100 * progress.loaded / progress.total);
      bar.value = percent;
      status.textContent = percent < 100
        ? "Uploading: " + percent + " % of " + megabytes(progress.total)
        : "Uploaded; checking every file and manifest line…";
    });
    request.addEventListener("load", function () { show(request.responseText, request.responseURL); });
    request.addEventListener("error", function () {
      button.disabled = false;
      bar.hidden = true;
      status.textContent = "The upload did not reach the server (the connection was lost): nothing was added. Try again.";
    });
    request.send(new FormData(form));
  });
})();
