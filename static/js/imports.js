// CSV import progress: polls the import's small JSON status until it is done or failed.
(function () {
  "use strict";

  var box = document.getElementById("import-progress");
  if (!box) return;
  var url = box.getAttribute("data-status-url");

  function part(name) { return box.querySelector('[data-field="' + name + '"]'); }

  function show(state) {
    ["processed", "created", "duplicates", "invalid"].forEach(function (name) {
      part(name).textContent = String(state[name]);
    });
    part("total").textContent = state.total ? String(state.total) : "…";
    var bar = part("bar");
    bar.max = state.total || 1;
    bar.value = state.processed;
    var badge = document.createElement("span");
    badge.className = "badge status-" + state.status;
    badge.textContent = state.status;
    part("status").replaceChildren(badge);
    part("error").textContent = state.error || "";
    part("error").classList.toggle("hidden", !state.error);
    part("report").classList.toggle("hidden", !state.report_url);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) return setTimeout(poll, 5000);
        show(state);
        if (state.status !== "done" && state.status !== "failed") setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }

  poll();
})();
