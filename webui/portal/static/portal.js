/* GridLedger portal: charts (Chart.js, installed at set-up) and live updates by polling
   /api/v1/live for what reached the mirror since the last look. No inline scripts
   (the Content-Security-Policy forbids them): data comes in <script type="application/json">. */
(function () {
  "use strict";

  function drawCharts() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      if (typeof window.Chart === "undefined") {
        var note = canvas.parentElement.querySelector(".chart-fallback");
        if (note) note.hidden = false;
        canvas.hidden = true;
        return;
      }
      canvas.chart = new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [
            { label: "import (Wh)", data: data.importWh, backgroundColor: "#0b6e4f" },
            { label: "export (Wh)", data: data.exportWh, backgroundColor: "#f59e0b" }
          ]
        },
        options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } }
      });
    });
  }

  function toast(text, warn) {
    var box = document.getElementById("live-toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast" + (warn ? " warn" : "");
    el.textContent = text;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 8000);
  }

  function setText(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  var since = null;
  var seenAlarms = {};

  function poll() {
    var body = document.body;
    var url = body.dataset.liveUrl;
    if (!url) return;
    var q = url + "?since=" + (since === null ? 0 : since);
    fetch(q, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (live) {
        if (!live) return;
        Object.keys(live.heights || {}).forEach(function (ch) {
          setText("mirror-height-" + ch, live.heights[ch]);
        });
        setText("dash-height", live.height);
        var badge = document.getElementById("alert-count");
        if (badge) { badge.hidden = !live.openAlerts; badge.textContent = live.openAlerts; }
        if (since !== null && live.height > since) {
          if (live.readings.length) {
            var meters = {};
            live.readings.forEach(function (r) { meters[r.meterId] = (meters[r.meterId] || 0) + 1; });
            Object.keys(meters).forEach(function (m) { toast(meters[m] + " new reading(s) from " + m); });
            document.body.dataset.newReadings = String(Number(document.body.dataset.newReadings || 0) + live.readings.length);
            refreshLatest();
          }
          (live.exhausted || []).forEach(function (a) { toast("Balance exhausted on " + a.slice(0, 10) + "…: top up to restore supply", true); });
          (live.lowBalance || []).forEach(function (a) { toast("Balance below your threshold on " + a.slice(0, 10) + "…", true); });
        }
        (live.alarms || []).forEach(function (a) {
          var key = a.meterId + a.at + a.kind;
          if (!seenAlarms[key] && since !== null) toast("ALARM: " + a.kind + " at " + a.meterId, true);
          seenAlarms[key] = true;
        });
        Object.keys(live.balances || {}).forEach(function (addr) {
          document.querySelectorAll('[data-address="' + addr + '"].big, #balance[data-address="' + addr + '"]').forEach(function (el) {
            el.textContent = Number(live.balances[addr]).toLocaleString("en").replace(/,/g, "\u202f");
          });
        });
        since = live.height;
      })
      .catch(function () { /* the portal is restarting or offline: try again later */ });
  }

  function refreshLatest() {
    /* Reload the fresh rows of the dashboard's "latest readings" tables in place. */
    var tables = document.querySelectorAll("table.latest[data-meter]");
    tables.forEach(function (table) {
      fetch("/api/v1/meters/" + encodeURIComponent(table.dataset.meter) + "/readings?limit=5",
            { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (rows) {
          var tbody = table.querySelector("tbody");
          tbody.textContent = "";
          rows.forEach(function (r) {
            var tr = document.createElement("tr");
            tr.className = "fresh";
            [r.seq, (r.intervalEnd || "").replace("T", " "),
             ((r.importWh || 0) / 1000).toFixed(3), ((r.exportWh || 0) / 1000).toFixed(3),
             r.blockNumber].forEach(function (v) {
              var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
            });
            tbody.appendChild(tr);
          });
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    if (document.body.dataset.liveUrl) {
      poll();
      setInterval(poll, Number(document.body.dataset.pollMs || 3000));
    }
  });
})();
