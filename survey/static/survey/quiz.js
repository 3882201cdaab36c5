/* The participant's page: preload a question's portraits, reveal them together, tell the server the
 * clock may start, and count down to the server's deadline. The server keeps the real clock; this
 * script only displays it and reports a timeout that the server checks again. */
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* Resolves when every image in the container has loaded (or failed), or after `limitMs`. */
  function imagesReady(container, limitMs) {
    var images = Array.prototype.slice.call(container.querySelectorAll("img"));
    var each = images.map(function (img) {
      if (img.complete && img.naturalWidth > 0) { return Promise.resolve(); }
      return new Promise(function (resolve) {
        img.addEventListener("load", resolve, { once: true });
        img.addEventListener("error", resolve, { once: true });
      });
    });
    var all = Promise.all(each);
    if (!limitMs) { return all; }
    return Promise.race([all, new Promise(function (resolve) { setTimeout(resolve, limitMs); })]);
  }

  function reveal(scope) {
    var portraits = scope.querySelector("[data-portraits]");
    var loading = scope.querySelector("[data-loading]");
    if (portraits) { portraits.hidden = false; }
    if (loading) { loading.hidden = true; }
  }

  function formatSeconds(ms) {
    return Math.max(0, Math.ceil(ms / 1000)) + " s";
  }

  function startCountdown(section, remainingMs, onExpired) {
    var display = section.querySelector("[data-countdown]");
    var end = performance.now() + remainingMs;
    function tick() {
      var left = end - performance.now();
      display.textContent = formatSeconds(left);
      display.classList.toggle("urgent", left < 5000);
      if (left <= 0) { onExpired(); return; }
      setTimeout(tick, Math.min(250, Math.max(20, left)));
    }
    tick();
  }

  function guardAgainstDoubleSubmit(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      /* Disable after the browser has taken the clicked button's value. */
      setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  }

  function runQuestion(section) {
    var answerForm = section.querySelector("[data-answer-form]");
    var expireForm = section.querySelector("[data-expire-form]");
    var portraits = section.querySelector("[data-portraits]");
    var timeLimit = parseInt(section.dataset.timeLimitMs, 10);
    section.querySelector("[data-countdown]").textContent = formatSeconds(timeLimit);
    guardAgainstDoubleSubmit(answerForm);

    imagesReady(portraits, 0).then(function () {
      return fetch(section.dataset.startUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
      });
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    }).then(function (result) {
      if (result.status !== 200) { window.location.replace(result.data.next || window.location.href); return; }
      reveal(section);
      answerForm.querySelectorAll("[data-option]").forEach(function (b) { b.disabled = false; });
      startCountdown(section, result.data.remaining_ms, function () {
        if (answerForm.dataset.sent) { return; }
        answerForm.dataset.sent = "1";
        answerForm.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        expireForm.submit();
      });
    }).catch(function () {
      /* Network trouble: reload; the server still knows the question and its deadline. */
      setTimeout(function () { window.location.reload(); }, 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-question]");
    if (section) { runQuestion(section); }
    document.querySelectorAll("[data-practice]").forEach(function (practice) {
      imagesReady(practice, 0).then(function () { reveal(practice); });
      practice.querySelectorAll("[data-practice-option]").forEach(function (button) {
        button.addEventListener("click", function () {
          practice.querySelectorAll("[data-practice-option]").forEach(function (b) { b.classList.remove("chosen"); });
          button.classList.add("chosen");
        });
      });
    });
  });
})();
