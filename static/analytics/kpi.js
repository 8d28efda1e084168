/*
 * Spotilytics KPI pages: draws the charts, heatmaps and data tables.
 *
 * Each `.kpi-card[data-src]` fetches its chart endpoint (JSON built by
 * analytics/charts.py and analytics/views/tables.py) and draws it with the Chart.js 4
 * that django-unfold ships. Dashboard sparklines read their configuration from a
 * `json_script` element. No inline script, so a strict Content-Security-Policy holds.
 * Colours of axes and grid follow unfold's light/dark theme (the `dark` class on <html>).
 */
(function () {
  "use strict";

  const charts = [];
  const MAX_PARALLEL = 3;
  const NUMBER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  // Money rounds half-even to cents, as the tables do (analytics/views/tables.py).
  const MONEY = new Intl.NumberFormat("en-US", {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
    roundingMode: "halfEven",
  });
  const INDEX = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function formatValue(value, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) {
      return "\u2014";
    }
    if (typeof value !== "number") {
      return String(value);
    }
    switch (unit) {
      case "money":
        return MONEY.format(value);
      case "ratio":
        return NUMBER.format(value * 100) + "%";
      case "index":
        return INDEX.format(value);
      default:
        return NUMBER.format(value);
    }
  }

  function isDark() {
    return document.documentElement.classList.contains("dark");
  }

  function themeColours() {
    return isDark()
      ? { text: "#d1d5db", grid: "rgba(255, 255, 255, 0.10)" }
      : { text: "#4b5563", grid: "rgba(0, 0, 0, 0.08)" };
  }

  function applyTheme(chart) {
    const colours = themeColours();
    const options = chart.options;
    if (options.plugins && options.plugins.legend && options.plugins.legend.labels) {
      options.plugins.legend.labels.color = colours.text;
    }
    for (const scale of Object.values(options.scales || {})) {
      if (scale.ticks) {
        scale.ticks.color = colours.text;
      }
      if (scale.grid) {
        scale.grid.color = colours.grid;
      }
      if (scale.title) {
        scale.title.color = colours.text;
      }
    }
  }

  function addFormatters(config, axisUnits) {
    const options = config.options;
    for (const [axis, unit] of Object.entries(axisUnits || {})) {
      const scale = options.scales && options.scales[axis];
      if (scale) {
        scale.ticks = Object.assign({}, scale.ticks, {
          callback: function (value) {
            // Category axes pass an index; value axes pass the number itself.
            return formatValue(this.type === "category" ? this.getLabelForValue(value) : value, unit);
          },
        });
      }
    }
    options.plugins = options.plugins || {};
    options.plugins.tooltip = Object.assign({}, options.plugins.tooltip, {
      callbacks: {
        label: function (context) {
          const raw = context.raw;
          const unit = context.dataset.unit;
          return (context.dataset.label || "") + ": " + formatValue(raw, unit);
        },
      },
    });
  }

  function draw(canvas, config) {
    Chart.defaults.font.family = "Inter, system-ui, sans-serif";
    const chart = new Chart(canvas, config);
    applyTheme(chart);
    chart.update("none");
    charts.push(chart);
    return chart;
  }

  function drawChart(card, payload) {
    const canvas = card.querySelector("canvas.kpi-chart");
    if (!canvas || payload.type === "heatmap" || payload.type === "table") {
      return;
    }
    const config = {
      type: payload.type,
      data: {
        labels: payload.labels,
        datasets: payload.datasets.concat(payload.previous_datasets || []),
      },
      options: payload.options,
    };
    // Legends of every kind follow the theme as well.
    config.options.plugins = config.options.plugins || {};
    config.options.plugins.legend = Object.assign({ labels: {} }, config.options.plugins.legend);
    config.options.plugins.legend.labels = config.options.plugins.legend.labels || {};
    addFormatters(config, payload.axis_units);
    if (config.options.indexAxis === "y") {
      // Ranked bars get the height their labels need.
      const box = canvas.parentElement;
      box.style.height = Math.min(900, Math.max(300, payload.labels.length * 22 + 90)) + "px";
    }
    draw(canvas, config);
  }

  function cellNode(tag, cell, column) {
    const node = document.createElement(tag);
    if (cell.href) {
      const link = document.createElement("a");
      link.href = cell.href;
      link.textContent = cell.display;
      link.className = "kpi-drill";
      node.appendChild(link);
    } else {
      node.textContent = cell.display;
    }
    if (column && column.align === "right") {
      node.classList.add("kpi-num");
    }
    return node;
  }

  function fillTable(card, table) {
    const element = card.querySelector("table.kpi-table");
    if (!element) {
      return;
    }
    const head = document.createElement("tr");
    for (const column of table.columns) {
      const th = document.createElement("th");
      th.textContent = column.label;
      th.scope = "col";
      if (column.align === "right") {
        th.classList.add("kpi-num");
      }
      head.appendChild(th);
    }
    element.tHead.replaceChildren(head);
    const body = element.tBodies[0];
    body.replaceChildren();
    for (const row of table.rows) {
      const tr = document.createElement("tr");
      row.forEach((cell, index) => tr.appendChild(cellNode("td", cell, table.columns[index])));
      body.appendChild(tr);
    }
    if (table.rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = Math.max(1, table.columns.length);
      td.textContent = "No data in this period.";
      td.className = "kpi-empty";
      tr.appendChild(td);
      body.appendChild(tr);
    }
    card.querySelector(".kpi-row-count").textContent =
      table.rows.length + (table.rows.length === 1 ? " row" : " rows");
  }

  // A heatmap is the KPI's table with the value columns shaded by their value.
  function drawHeatmap(card, payload) {
    const element = card.querySelector("table.kpi-table");
    const valueKeys = new Set(payload.datasets.map((dataset) => dataset.label));
    const shaded = payload.table.columns.map((column) => valueKeys.has(column.label));
    let max = 0;
    for (const row of payload.table.rows) {
      row.forEach((cell, index) => {
        if (shaded[index] && typeof cell.value === "number") {
          max = Math.max(max, Math.abs(cell.value));
        }
      });
    }
    const ratio = payload.table.columns.some((column, index) => shaded[index] && column.unit === "ratio");
    const scale = ratio ? 1 : max || 1;
    element.classList.add("kpi-heatmap");
    const rows = element.tBodies[0].rows;
    payload.table.rows.forEach((row, rowIndex) => {
      row.forEach((cell, index) => {
        const td = rows[rowIndex] && rows[rowIndex].cells[index];
        if (!td || !shaded[index]) {
          return;
        }
        if (typeof cell.value !== "number") {
          td.classList.add("kpi-heat-empty");
          return;
        }
        const strength = Math.min(1, Math.abs(cell.value) / scale);
        td.classList.add("kpi-heat");
        td.style.backgroundColor = "rgba(139, 92, 246, " + (0.08 + 0.82 * strength).toFixed(3) + ")";
        if (strength > 0.55) {
          td.classList.add("kpi-heat-strong");
        }
      });
    });
  }

  function showStatus(card, text, isError) {
    const status = card.querySelector(".kpi-status");
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("kpi-error", Boolean(isError));
    status.setAttribute("role", isError ? "alert" : "status");
  }

  async function loadCard(card) {
    showStatus(card, "Loading\u2026", false);
    let response;
    try {
      response = await fetch(card.dataset.src, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      showStatus(card, "Could not reach the server: " + error.message, true);
      return;
    }
    let payload;
    try {
      payload = await response.json();
    } catch (error) {
      showStatus(card, "The server answered " + response.status + " without chart data.", true);
      console.error("KPI chart " + card.dataset.kpi + ": answer is not JSON (" + response.status + ")");
      return;
    }
    if (!response.ok) {
      showStatus(card, payload.error || "The chart could not be loaded (" + response.status + ").", true);
      return;
    }
    fillTable(card, payload.table);
    if (payload.type === "heatmap") {
      drawHeatmap(card, payload);
    } else {
      drawChart(card, payload);
    }
    const notes = card.querySelector(".kpi-notes");
    if (notes && payload.notes && payload.notes.length) {
      notes.textContent = payload.notes.join(" ");
      notes.hidden = false;
    }
    card.dataset.loaded = "true";
    showStatus(card, "", false);
  }

  function drawSparklines() {
    for (const canvas of document.querySelectorAll("canvas.kpi-sparkline[data-config]")) {
      const source = document.getElementById(canvas.dataset.config);
      if (source) {
        draw(canvas, JSON.parse(source.textContent));
      }
    }
  }

  function watchTheme() {
    new MutationObserver(() => {
      for (const chart of charts) {
        applyTheme(chart);
        chart.update("none");
      }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
  }

  function start() {
    if (typeof Chart === "undefined") {
      console.error("Chart.js is not loaded: the KPI charts cannot be drawn.");
      return;
    }
    drawSparklines();
    const cards = Array.from(document.querySelectorAll(".kpi-card[data-src]"));
    // A few requests at a time: a family page must not start a dozen KPI queries at once.
    const queue = cards.slice();
    const worker = async () => {
      while (queue.length) {
        await loadCard(queue.shift()).catch((error) => console.error(error));
      }
    };
    Promise.all(Array.from({ length: Math.min(MAX_PARALLEL, cards.length) }, worker)).then(() => {
      document.body.dataset.kpisLoaded = "true";
    });
    watchTheme();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
