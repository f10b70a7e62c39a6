// Draws a chart model (summary.js, meters.js) with uPlot: a time series, or categorical bars. Colours come
// from the page's CSS custom properties (theme.js sets them from the host), read when the chart is made.

import uPlot from "uplot";

const full = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });
const UTC = "Etc/UTC";

export const formatValue = (value) => (value === null || value === undefined ? "–" : full.format(value));

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function palette() {
  return css("--chart-palette").split(/\s+/).filter(Boolean);
}

/** A series colour: the palette's, then evenly spread hues for any beyond it. */
function colour(index, colours) {
  if (index < colours.length) return colours[index];
  const hue = (index * 137.508) % 360;
  return `hsl(${hue.toFixed(1)} 60% ${css("--chart-hue-lightness") || "45%"})`;
}

function axis(values, extra = {}) {
  const font = `${css("--chart-font-size") || "12px"} ${css("--chart-font") || "sans-serif"}`;
  return {
    stroke: css("--chart-text"),
    font,
    labelFont: font,
    grid: { stroke: css("--chart-grid"), width: 1 },
    ticks: { stroke: css("--chart-grid"), width: 1 },
    values,
    ...extra,
  };
}

/** A tooltip at the cursor: the x label, then each visible series' value (uPlot's legend stays beside). */
function tooltip(xLabel) {
  let box;
  return {
    hooks: {
      init(u) {
        box = document.createElement("div");
        box.className = "tooltip";
        box.setAttribute("role", "status");
        box.hidden = true;
        u.over.appendChild(box);
        u.over.addEventListener("mouseleave", () => {
          box.hidden = true;
        });
      },
      setCursor(u) {
        const index = u.cursor.idx;
        if (index === null || index === undefined) {
          box.hidden = true;
          return;
        }
        const rows = u.series
          .slice(1)
          .filter((series) => series.show)
          .map((series, i) => {
            const value = u.data[u.series.indexOf(series)][index];
            return `<div><span class="swatch" style="background:${series._colour}"></span>${escapeHtml(series.label)}: <b>${formatValue(value)}</b></div>`;
          });
        box.innerHTML = `<div class="tooltip-x">${escapeHtml(xLabel(index, u))}</div>${rows.join("")}`;
        box.hidden = false;
        const left = u.cursor.left ?? 0;
        const top = u.cursor.top ?? 0;
        const width = box.offsetWidth;
        box.style.left = `${Math.max(0, Math.min(left + 12, u.over.clientWidth - width))}px`;
        box.style.top = `${Math.max(0, top - box.offsetHeight - 8)}px`;
      },
    },
  };
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function seriesOf(label, index, colours, paths, extra = {}) {
  const stroke = colour(index, colours);
  return {
    label,
    stroke,
    fill: paths ? stroke : undefined,
    width: paths ? 0 : 2,
    paths,
    // A bar needs no point marker on its corner.
    points: paths ? { show: false } : undefined,
    value: (u, v) => formatValue(v),
    _colour: stroke,
    ...extra,
  };
}

function timeChart(model, size) {
  const colours = palette();
  const dense = model.x.length > 48;
  const hourly = model.dimension === "hour";
  const format = uPlot.fmtDate(hourly ? "{YYYY}-{MM}-{DD} {HH}:00 UTC" : "{YYYY}-{MM}-{DD}");
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), UTC);
  // One bucket alone is a bar: a line needs two points.
  const bars = model.x.length === 1 ? uPlot.paths.bars({ size: [0.5, 80] }) : undefined;
  return {
    ...size,
    tzDate,
    scales: { x: { time: true, range: model.x.length === 1 ? (u, min, max) => [min - 1800, max + 1800] : undefined } },
    series: [
      { label: hourly ? "hour (UTC)" : "day (UTC)", value: (u, v) => (v === null ? "–" : format(tzDate(v))) },
      ...model.series.map((line, i) =>
        seriesOf(line.label, i, colours, bars, { points: { show: !dense && !bars, size: 6, fill: colour(i, colours) } }),
      ),
    ],
    axes: [timeAxis(hourly, tzDate), axis((u, splits) => splits.map((v) => compact.format(v)), { size: 56 })],
    plugins: [tooltip((index, u) => format(tzDate(u.data[0][index])))],
    data: [model.x, ...model.series.map((line) => line.values)],
  };
}

const HOUR = 3600;
const DAY = 24 * HOUR;

/** Ticks on whole buckets only (never at half past), labelled in UTC; the date where a day begins. */
function timeAxis(hourly, tzDate) {
  const hour = uPlot.fmtDate("{HH}:00");
  const day = uPlot.fmtDate("{MMM} {D}");
  return axis(
    (u, splits) =>
      splits.map((v, i) => {
        const date = tzDate(v);
        if (!hourly) return day(date);
        const newDay = i === 0 || tzDate(splits[i - 1]).getDate() !== date.getDate();
        return newDay ? `${hour(date)}\n${day(date)}` : hour(date);
      }),
    {
      incrs: hourly
        ? [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY]
        : [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 364 * DAY],
    },
  );
}

function categoryAxis(labels) {
  // As many labels as fit, evenly spaced; the tooltip and legend name every bar.
  return axis((u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] !== undefined ? clip(labels[i]) : "")), {
    splits: (u) => {
      const fit = Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 72));
      const step = Math.ceil(labels.length / fit);
      return labels.map((_, i) => i).filter((i) => i % step === 0);
    },
  });
}

function clip(label) {
  return label.length > 12 ? `${label.slice(0, 11)}…` : label;
}

function barChart(model, size) {
  const colours = palette();
  const x = model.labels.map((_, i) => i);
  return {
    ...size,
    scales: { x: { time: false, range: [-0.5, x.length - 0.5] } },
    series: [
      { label: "group", value: (u, v) => (v === null ? "–" : model.labels[v]) },
      seriesOf(model.unit, 0, colours, uPlot.paths.bars({ size: [0.8, 64] })),
    ],
    axes: [categoryAxis(model.labels), axis((u, splits) => splits.map((v) => compact.format(v)), { size: 56 })],
    plugins: [tooltip((index) => model.labels[index])],
    data: [x, model.values],
  };
}

function meterChart(model, size) {
  const colours = palette();
  const labels = model.periods.map((period) => period.slice(0, 10));
  const x = labels.map((_, i) => i);
  return {
    ...size,
    scales: { x: { time: false, range: [-0.5, x.length - 0.5] } },
    series: [
      { label: "period", value: (u, v) => (v === null ? "–" : model.periods[v]) },
      seriesOf("free units", 2, colours, uPlot.paths.bars({ size: [0.4, 48], align: -1 })),
      seriesOf("chargeable units", 1, colours, uPlot.paths.bars({ size: [0.4, 48], align: 1 })),
    ],
    axes: [categoryAxis(labels), axis((u, splits) => splits.map((v) => compact.format(v)), { size: 56 })],
    plugins: [tooltip((index) => model.periods[index])],
    data: [x, model.free, model.chargeable],
  };
}

const BUILDERS = { time: timeChart, bars: barChart, meter: meterChart };

// Usage is never negative: every chart's value axis starts at 0, so bars and lines compare honestly.
const fromZero = (u, min, max) => uPlot.rangeNum(Math.min(0, min ?? 0), max ?? 1, 0.1, true);

/** A uPlot of `model` in `target`, `width` by `height` CSS pixels. */
export function drawChart(model, target, width, height) {
  const { data, ...options } = BUILDERS[model.kind](model, { width, height });
  options.scales = { ...options.scales, y: { range: fromZero } };
  options.legend = { live: true };
  options.cursor = { points: { size: 8 } };
  return new uPlot(options, data, target);
}
