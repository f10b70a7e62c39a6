// The usage view: waits for the host's tool result, then draws it (summary.js or meters.js, through chart.js).
// Everything drawn is also kept on window.dodoUsage (the uPlot instances and their models), for tests.

import { connect } from "./bridge.js";
import { drawChart, escapeHtml } from "./chart.js";
import { isUsageHistory, meterCharts } from "./meters.js";
import { summaryChart } from "./summary.js";
import { applyTheme } from "./theme.js";

const root = document.getElementById("root");
const state = { args: {}, result: undefined, cancelled: undefined };
const shown = { view: "waiting", charts: [], drawnAt: undefined };
window.dodoUsage = shown;

function structuredOf(result) {
  if (result.structuredContent) return result.structuredContent;
  // A host that passes on the text alone: dodo-mcp's text is the same data as JSON.
  const text = result.content?.find((block) => block.type === "text")?.text;
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function message(kind, text) {
  root.innerHTML = `<p class="message ${kind}">${escapeHtml(text)}</p>`;
  shown.view = kind;
  shown.charts = [];
}

function chartWidth(figure) {
  return Math.max(240, figure.clientWidth);
}

function chartHeight(width) {
  return Math.round(Math.min(280, Math.max(180, width * 0.5)));
}

function render() {
  for (const { plot } of shown.charts) plot.destroy();
  if (state.cancelled !== undefined) return message("cancelled", `The call was cancelled${state.cancelled ? `: ${state.cancelled}` : "."}`);
  const result = state.result;
  if (!result) return message("waiting", "Waiting for the result…");
  const text = result.content?.find((block) => block.type === "text")?.text ?? "";
  if (result.isError) return message("error", text || "The call failed.");
  const structured = structuredOf(result);
  if (!structured) return message("error", "This result carries no data to draw.");
  const models = isUsageHistory(structured) ? meterCharts(structured) : [summaryChart(structured, state.args)];
  if (models.length === 0) return message("empty", "No billing periods with metered usage.");

  root.innerHTML = "";
  shown.view = isUsageHistory(structured) ? "meters" : models[0].kind;
  shown.charts = [];
  for (const model of models) {
    const figure = document.createElement("figure");
    figure.innerHTML = `<figcaption><h1>${escapeHtml(model.title)}</h1><span class="unit">${escapeHtml(model.unit)}</span></figcaption>`;
    for (const note of model.notes ?? []) {
      figure.insertAdjacentHTML("beforeend", `<p class="note ${note.kind}" role="note">${escapeHtml(note.text)}</p>`);
    }
    root.appendChild(figure);
    if (model.kind === "empty") {
      figure.insertAdjacentHTML("beforeend", `<p class="message empty">${escapeHtml(model.message)}</p>`);
      shown.charts.push({ model, plot: { destroy() {} } });
      continue;
    }
    const width = chartWidth(figure);
    const plot = drawChart(model, figure, width, chartHeight(width));
    shown.charts.push({ model, plot });
  }
  shown.drawnAt ??= performance.now();
}

const bridge = connect({
  context(context) {
    if (applyTheme(context) && state.result) render();
  },
  input(args) {
    state.args = args;
  },
  result(result) {
    state.result = result;
    render();
  },
  cancelled(reason) {
    state.cancelled = reason ?? "";
    render();
  },
});

let lastWidth = root.clientWidth;
new ResizeObserver(() => {
  const width = root.clientWidth;
  if (width !== lastWidth) {
    lastWidth = width;
    for (const { plot } of shown.charts) {
      const chart = chartWidth(plot.root?.parentElement ?? root);
      plot.setSize?.({ width: chart, height: chartHeight(chart) });
    }
  }
  bridge.sizeChanged(document.documentElement.scrollWidth, document.documentElement.scrollHeight);
}).observe(document.body);

render();
