// Marketing console: live preview of a program as it is typed, and adding reward-rule rows.
(function () {
  "use strict";

  var form = document.getElementById("program-form");
  var target = document.getElementById("program-preview");
  if (!form || !target) return;

  var timer = null;
  var sent = 0;

  // The server renders the preview (escaped and sanitised HTML); the newest answer wins.
  function refresh() {
    var ticket = ++sent;
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html !== null && ticket === sent) target.innerHTML = html;
    }).catch(function () { /* keep the last preview; the form still saves */ });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);

  var add = document.getElementById("add-rule");
  var template = document.getElementById("rule-template");
  var rows = document.getElementById("rule-rows");
  if (add && template && rows) {
    add.addEventListener("click", function () {
      var index = Number(add.getAttribute("data-next-index"));
      var html = template.innerHTML.split("__index__").join(String(index));
      var holder = document.createElement("div");
      holder.innerHTML = html;
      while (holder.firstElementChild) rows.appendChild(holder.firstElementChild);
      add.setAttribute("data-next-index", String(index + 1));
    });
  }
})();
