// Report charts: each <canvas data-chart="ID"> is drawn from <script type="application/json" id="ID">.
// The numbers are also in the table beside each chart; nothing here computes a figure.
(function () {
  "use strict";

  var PALETTE = ["#2b6cb0", "#dd6b20", "#2f855a", "#805ad5", "#c53030", "#718096", "#d69e2e", "#319795"];

  function readData(id) {
    var block = document.getElementById(id);
    if (!block) return null;
    try { return JSON.parse(block.textContent); } catch (e) { return null; }
  }

  function config(data) {
    var percentAxis = { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } };
    var datasets = data.datasets.map(function (set, i) {
      var colour = PALETTE[i % PALETTE.length];
      return Object.assign({ backgroundColor: colour, borderColor: colour, borderWidth: set.type === "line" ? 2 : 0 }, set);
    });
    var scales = data.indexAxis === "y" ? { x: data.percent ? percentAxis : { beginAtZero: true } }
      : { y: data.percent ? percentAxis : { beginAtZero: true, ticks: { precision: 0 } } };
    if (data.secondaryPercent) {
      scales.percent = Object.assign({ position: "right", grid: { drawOnChartArea: false } }, percentAxis);
    }
    return {
      type: data.type || "bar",
      data: { labels: data.labels, datasets: datasets },
      options: {
        indexAxis: data.indexAxis || "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false, // a printout must never catch a chart half drawn
        plugins: { legend: { display: datasets.length > 1 } },
        scales: scales
      }
    };
  }

  function drawAll() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var data = readData(canvas.getAttribute("data-chart"));
      if (!data || !data.labels || !data.labels.length) {
        canvas.closest(".report-chart").classList.add("hidden");
        return;
      }
      canvas.chart = new window.Chart(canvas, config(data));
    });
  }

  // Charts resize to the printed page width, then back.
  function resizeAll() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.chart) canvas.chart.resize();
    });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
