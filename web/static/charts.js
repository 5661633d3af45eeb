// Dataset charts: fetch the selection's figures from /api/charts and draw them with the vendored Chart.js.
(function () {
  "use strict";
  const script = document.currentScript;
  const palette = ["#8b1a1a", "#0b57a4", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#9e9d24", "#5d4037", "#c2185b", "#455a64"];

  function bars(id, labels, series, stackOf, horizontal) {
    const el = document.getElementById(id);
    if (!el || !labels.length) { if (el) el.replaceWith(Object.assign(document.createElement("p"), {textContent: "无数据 No data for this selection."})); return; }
    const datasets = Object.keys(series).map((name, i) => ({label: name, data: series[name], backgroundColor: palette[i % palette.length],
      stack: stackOf(i)}));
    new Chart(el, {type: "bar", data: {labels: labels, datasets: datasets},
      options: {indexAxis: horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false, animation: false,
        scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}}});
  }

  fetch(script.dataset.src).then((r) => r.json()).then((data) => {
    const apps = data.applications;
    // received beside the stacked outcomes it was split into
    bars("chart-applications", apps.years.map(String), apps.series, (i) => (i === 0 ? "received" : "outcomes"), false);
    const cov = data.coverage;
    bars("chart-coverage", cov.regions, cov.series, () => "years", true);
    document.body.dataset.chartsReady = "1";
  }).catch((err) => { document.body.dataset.chartsReady = "error"; console.error(err); });
})();
