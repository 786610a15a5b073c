// Interlock's small, dependency-free behaviours: copy buttons, live countdowns, confirmations.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    var text = source ? (source.value !== undefined ? source.value : source.textContent) : "";
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied!";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(source); done(); });
    } else { fallbackCopy(source); done(); }
  });

  function fallbackCopy(source) {
    if (source && source.select) { source.select(); document.execCommand("copy"); }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // <span class="countdown" data-due="ISO" data-seconds-left="N"> counts down in place.
  // Server computes the time left in working time; the page ticks it down between reloads.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-seconds-left]").forEach(function (el) {
      if (!el.dataset.loadedAt) el.dataset.loadedAt = String(now);
      var left = Number(el.dataset.secondsLeft) - (now - Number(el.dataset.loadedAt)) / 1000;
      el.textContent = format(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600);
    });
  }

  function format(seconds) {
    var sign = seconds < 0 ? "overdue by " : "";
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h >= 24) return sign + Math.floor(h / 24) + "d " + (h % 24) + "h";
    return sign + (h ? h + "h " : "") + m + "m " + (h ? "" : r + "s");
  }

  tick();
  setInterval(tick, 1000);
  window.Interlock = { formatSeconds: format };
})();
