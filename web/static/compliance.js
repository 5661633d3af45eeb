// Compliance chart: on time / late / missing per province, from /api/compliance, drawn with the vendored Chart.js.
(function () {
  "use strict";
  const script = document.currentScript;
  const colours = {on_time: "#2e7d32", late: "#ef6c00", missing: "#8b1a1a"};
  fetch(script.dataset.src).then((r) => r.json()).then((data) => {
    const el = document.getElementById("chart-compliance");
    const chart = data.chart;
    if (!el || !chart.provinces.length) {
      if (el) el.replaceWith(Object.assign(document.createElement("p"), {textContent: "无数据 No data for this selection."}));
    } else {
      const datasets = Object.keys(chart.series).map((s) => ({label: s, data: chart.series[s], backgroundColor: colours[s], stack: "all"}));
      new Chart(el, {type: "bar", data: {labels: chart.provinces, datasets: datasets},
        options: {indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
          scales: {x: {stacked: true, beginAtZero: true}, y: {stacked: true}}}});
    }
    document.body.dataset.chartsReady = "1";
  }).catch((err) => { document.body.dataset.chartsReady = "error"; console.error(err); });
})();
