// /dashboard: draws the charts from the JSON block the server rendered (no request of
// its own). Chart.js (chart.umd.js, MIT) is served beside this file: no CDN.
(function () {
  "use strict";

  var KINDS = {
    hourly: { stacked: true, percent: false, horizontal: false },
    latency: { stacked: false, percent: false, horizontal: false },
    rates: { stacked: false, percent: true, horizontal: false },
    senders: { stacked: true, percent: false, horizontal: true },
    keywords: { stacked: false, percent: false, horizontal: true },
    precision: { stacked: false, percent: true, horizontal: false },
  };

  function draw() {
    var block = document.getElementById("dashboard-data");
    if (!block || typeof Chart === "undefined") return;
    var data = JSON.parse(block.textContent);
    var canvases = document.querySelectorAll("canvas[data-chart]");
    canvases.forEach(function (canvas) {
      var name = canvas.dataset.chart;
      var kind = KINDS[name];
      var chartData = data[name];
      if (!kind || !chartData) return;
      var valueAxis = { beginAtZero: true, stacked: kind.stacked };
      if (kind.percent) valueAxis.max = 100;
      var categoryAxis = { stacked: kind.stacked };
      var scales = kind.horizontal
        ? { x: valueAxis, y: categoryAxis }
        : { x: categoryAxis, y: valueAxis };
      new Chart(canvas, {
        type: "bar",
        data: chartData,
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          indexAxis: kind.horizontal ? "y" : "x",
          scales: scales,
          plugins: { legend: { display: chartData.datasets.length > 1 } },
        },
      });
    });
    document.body.dataset.chartsReady = "true";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
