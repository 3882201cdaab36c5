// Copy buttons of the admin's invite links: <button class="copy-link" data-link="...">.
// Served as a file (no inline script). The clipboard API needs HTTPS or localhost; elsewhere the link is
// selected so that Ctrl+C / Cmd+C copies it.
(function () {
  "use strict";

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function done(button, text) {
    var before = button.dataset.label || button.textContent;
    button.dataset.label = before;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = before; }, 1500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy-link") : null;
    if (!button) { return; }
    event.preventDefault();
    var link = button.dataset.link;
    var code = button.parentElement ? button.parentElement.querySelector("code") : null;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(
        function () { done(button, "Copied"); },
        function () { if (code) { selectText(code); } done(button, "Press Ctrl+C"); }
      );
    } else {
      if (code) { selectText(code); }
      done(button, "Press Ctrl+C");
    }
  });
})();
