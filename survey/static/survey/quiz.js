/* The participant's question page. The server keeps the real clock; this script
 *  1. shows a short pause between questions ("Answer recorded", "Time is up") during which nothing answers,
 *  2. only then requests the portraits (the server starts the clock once it has delivered them), showing the
 *     server's time left at the latest while they are slow,
 *  3. reveals them together, tells the server the clock may start, and counts down to the server's deadline,
 *  4. accepts an answer (a click on a face or a disorder, or a key) only once the question is armed: its
 *     portraits have been on screen for the study's arming delay. The server refuses earlier answers too.
 * A portrait can be enlarged at any time without answering; the clock keeps running. */
(function () {
  "use strict";

  var PAUSE_MS = 1000;       // the between-questions pause
  var SLOW_MS = 300;         // after this, say that the page is waiting for the portraits
  var PAUSE_TEXT = {
    answered: "Answer recorded — next question",
    skipped: "Skipped — next question",
    timeout: "Time is up — next question"
  };

  function csrfToken(scope) {
    var input = scope.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function toInt(value, fallback) {
    var n = parseInt(value, 10);
    return isNaN(n) ? fallback : n;
  }

  function seconds(ms) {
    return Math.max(0, Math.ceil(ms / 1000)) + " s";
  }

  function delay(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  /* A countdown on every [data-countdown] of the page. `run(ms, cap, onZero)` counts down from `ms`,
   * displaying at most `cap` (the limit, while the clock may not have started yet). */
  function Countdown(scope) {
    var displays = Array.prototype.slice.call(scope.querySelectorAll("[data-countdown]"));
    var timer = null;
    function show(ms) {
      displays.forEach(function (d) {
        d.textContent = seconds(ms);
        d.parentNode.classList.toggle("urgent", ms < 5000);
      });
    }
    return {
      show: show,
      run: function (ms, cap, onZero) {
        var end = performance.now() + ms;
        clearTimeout(timer);
        (function tick() {
          var left = end - performance.now();
          show(Math.min(left, cap));
          if (left <= 0) { if (onZero) { onZero(); } return; }
          timer = setTimeout(tick, Math.min(250, Math.max(20, left)));
        })();
      },
      stop: function () { clearTimeout(timer); }
    };
  }

  /* Resolves when every image has loaded and decoded (or failed). */
  function imagesReady(images) {
    return Promise.all(images.map(function (img) {
      var loaded = (img.complete && img.naturalWidth > 0) ? Promise.resolve() : new Promise(function (resolve) {
        img.addEventListener("load", resolve, { once: true });
        img.addEventListener("error", resolve, { once: true });
      });
      return loaded.then(function () { return img.decode ? img.decode().catch(function () {}) : null; });
    }));
  }

  function runQuestion(form) {
    var d = form.dataset;
    var timeLimit = toInt(d.timeLimitMs, 30000);
    var armingDelay = toInt(d.armingDelayMs, 400);
    var clockRunning = d.clockRunning === "1";
    var stage = form.querySelector("[data-stage]");
    var status = form.querySelector("[data-status]");
    var pause = form.querySelector("[data-interstitial]");
    var images = Array.prototype.slice.call(stage.querySelectorAll("img[data-src]"));
    var choices = Array.prototype.slice.call(form.querySelectorAll("[data-choice]"));
    var skip = form.querySelector("[data-skip]");
    var answerButtons = choices.concat([skip]);
    var expireForm = document.querySelector("[data-expire-form]");
    var countdown = Countdown(document);
    var zoom = Zoom(form);
    var loadedAt = performance.now();
    // waiting (pause, loading) -> shown (revealed, not yet armed) -> armed -> done (answer sent or expired)
    var state = "waiting";
    form.dataset.state = state;

    function setState(next) { state = next; form.dataset.state = next; }

    function disableAll() {
      answerButtons.forEach(function (b) { b.disabled = true; });
    }

    function expire() {
      if (state === "done") { return; }
      setState("done");
      disableAll();
      zoom.close();
      expireForm.submit();
    }

    /* The server's deadline at the latest, counted from this page's load: shown while the portraits are slow. */
    function runLatest() {
      var latest = toInt(d.latestRemainingMs, timeLimit) - (performance.now() - loadedAt);
      countdown.run(latest, timeLimit, expire);
    }

    function load() {
      var slow = setTimeout(function () {
        if (state === "waiting") { pause.hidden = true; status.hidden = false; }
      }, SLOW_MS);
      images.forEach(function (img) { img.src = img.dataset.src; });
      imagesReady(images).then(function () {
        return fetch(d.startUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(form), "Accept": "application/json" }
        });
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        clearTimeout(slow);
        if (!result.ok) { window.location.replace(result.data.next || window.location.href); return; }
        if (state === "done") { return; }
        status.hidden = true;
        pause.hidden = true;
        stage.hidden = false;
        setState("shown");
        countdown.run(result.data.remaining_ms, timeLimit, expire);
        setTimeout(function () {
          if (state !== "shown") { return; }
          answerButtons.forEach(function (b) { b.disabled = false; });
          setState("armed");
        }, armingDelay);
      }).catch(function () {
        /* Network trouble: reload; the server still knows the question and its deadline. */
        setTimeout(function () { window.location.reload(); }, 1000);
      });
    }

    /* Every answer goes through here or through a click on an armed button; both end in the submit handler. */
    function answerWith(button) {
      if (state !== "armed" || !button || button.disabled) { return; }
      if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
    }

    form.addEventListener("submit", function (event) {
      if (state !== "armed") { event.preventDefault(); return; }
      setState("done");
      countdown.stop();
      var chosen = event.submitter;
      if (chosen && chosen.dataset.choice !== undefined) { chosen.classList.add("chosen"); }
      /* Disable after the browser has taken the submitting button's value. */
      setTimeout(disableAll, 0);
    });

    /* Space enlarges the focused portrait (on a face it would otherwise click it, on key release); on any
     * other focused control (Skip, a disorder) it keeps its usual meaning. */
    var spaceTaken = false;
    function spaceIsZoom() {
      var focused = document.activeElement;
      return !focused || focused === document.body || !!focused.closest("[data-portrait]");
    }

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
      if (key === " ") { spaceTaken = zoom.isOpen() || spaceIsZoom(); if (!spaceTaken) { return; } }
      if (zoom.isOpen()) {
        if (key === "Escape" || key === " " || key === "z") { event.preventDefault(); zoom.close(); return; }
      } else if (key === " " || key === "z") {
        event.preventDefault();
        if (state === "shown" || state === "armed") { zoom.openFor(document.activeElement); }
        return;
      }
      var index = -1;
      if (key.length === 1 && key >= "1" && key <= "9") { index = key.charCodeAt(0) - 49; }
      else if (key.length === 1 && key >= "a" && key <= "h") { index = key.charCodeAt(0) - 97; }
      if (index >= 0 && index < choices.length) { event.preventDefault(); zoom.close(); answerWith(choices[index]); }
      else if (key === "s") { event.preventDefault(); zoom.close(); answerWith(skip); }
    });
    document.addEventListener("keyup", function (event) {
      if (event.key === " " && spaceTaken) { event.preventDefault(); spaceTaken = false; }
    });

    disableAll();
    if (clockRunning) {
      /* A reload: no pause, the clock is already running. */
      runLatest();
      load();
      return;
    }
    countdown.show(timeLimit);
    pause.textContent = PAUSE_TEXT[d.previousOutcome] || "Get ready…";
    pause.hidden = false;
    delay(PAUSE_MS).then(function () {
      runLatest();
      load();
    });
  }

  /* Enlarging a portrait: a zoom button per portrait, or Z / Space on the focused one. */
  function Zoom(form) {
    var overlay = form.querySelector("[data-zoom-overlay]");
    var image = overlay.querySelector("[data-zoom-image]");
    var caption = overlay.querySelector("[data-zoom-caption]");
    var closeButton = overlay.querySelector("[data-zoom-close]");
    var returnFocus = null;

    function open(portrait) {
      var img = portrait && portrait.querySelector("img");
      if (!img || !img.src) { return; }
      returnFocus = document.activeElement;
      image.src = img.src;
      image.alt = "Enlarged: " + img.alt;
      caption.textContent = img.alt;
      overlay.hidden = false;
      closeButton.focus();
    }
    function close() {
      if (overlay.hidden) { return; }
      overlay.hidden = true;
      image.removeAttribute("src");
      if (returnFocus && returnFocus.focus) { returnFocus.focus(); }
    }
    form.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        open(button.closest("[data-portrait]"));
      });
    });
    overlay.addEventListener("click", function (event) { event.preventDefault(); close(); });
    return {
      isOpen: function () { return !overlay.hidden; },
      close: close,
      /* The portrait holding the focus, or else the first one. */
      openFor: function (element) {
        var portrait = element && element.closest ? element.closest("[data-portrait]") : null;
        open(portrait || form.querySelector("[data-portrait]"));
      }
    };
  }

  /* Buttons that should not take a stray click from the page before (an introduction's Start). */
  function armLater(button) {
    setTimeout(function () { button.disabled = false; }, toInt(button.dataset.armAfter, 600));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var question = document.querySelector("[data-question]");
    if (question) { runQuestion(question); }
    document.querySelectorAll("[data-arm-after]").forEach(armLater);
  });
})();
