// What a summarize_events result draws: a time series when it is grouped by hour or day (one series per
// combination of the other dimensions), else one bar per group, busiest first. Pure data, no DOM.

const TIME_DIMENSIONS = ["hour", "day"];

/** The label of a dimension value: null is the group of events without it. */
export function valueLabel(value) {
  if (value === null || value === undefined) return "(none)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The label of a group: its dimensions' values, joined; "total" without group_by. */
export function groupLabel(key, dimensions) {
  if (dimensions.length === 0) return "total";
  return dimensions.map((dimension) => valueLabel(key[dimension])).join(" · ");
}

/** The unit values are in: events for a count, else the metadata key read. */
export function unitOf(aggregation) {
  return aggregation === "count of events" ? "events" : aggregation.replace(/^(sum|max|last) of /, "");
}

/** Seconds since the epoch (uPlot's time axis) of an hour ("2026-11-26T10:00:00Z") or day ("2026-11-26") bucket. */
export function bucketSeconds(bucket) {
  const text = bucket.length === 10 ? `${bucket}T00:00:00Z` : bucket;
  return Date.parse(text) / 1000;
}

function title(aggregation, time, others) {
  const what = aggregation.charAt(0).toUpperCase() + aggregation.slice(1);
  const per = time ? ` per ${time}` : "";
  const by = others.length ? ` by ${others.join(", ")}` : "";
  return `${what}${per}${by}`;
}

/** Notes to show beside the chart: an incomplete scan (with its advice), groups left out, skipped events. */
function notes(summary) {
  const shown = [];
  if (!summary.complete) {
    // dodo-mcp's own note says why and how to narrow the query; a bare fact where there is none.
    const oldest = summary.oldest_scanned ? `, back to ${summary.oldest_scanned}` : "";
    const text = summary.note ?? `Incomplete: the scan stopped after ${summary.scanned} events${oldest}.`;
    shown.push({ kind: "incomplete", text });
  }
  if (summary.omitted_groups) {
    shown.push({ kind: "omitted", text: `${summary.omitted_groups} smaller groups are not shown.` });
  }
  const skipped = summary.groups.reduce((total, group) => total + (group.skipped ?? 0), 0);
  if (skipped) {
    shown.push({ kind: "skipped", text: `${skipped} events had no numeric value and are not counted.` });
  }
  return shown;
}

/**
 * The chart for `summary` (a summarize_events structuredContent), given the call's arguments when the host
 * sent them (group_by names the dimensions even when no group came back).
 */
export function summaryChart(summary, args = {}) {
  const first = summary.groups[0];
  const dimensions = first ? Object.keys(first.key) : (args.group_by ?? []);
  const time = dimensions.find((dimension) => TIME_DIMENSIONS.includes(dimension));
  const others = dimensions.filter((dimension) => dimension !== time);
  const unit = unitOf(summary.aggregation);
  const base = { title: title(summary.aggregation, time, others), unit, notes: notes(summary) };
  if (summary.groups.length === 0) {
    return { ...base, kind: "empty", message: `No events matched: ${summary.scanned} scanned.` };
  }
  if (time) {
    const buckets = [...new Set(summary.groups.map((group) => group.key[time]))].sort();
    const column = new Map(buckets.map((bucket, index) => [bucket, index]));
    const series = new Map();
    for (const group of summary.groups) {
      const label = groupLabel(group.key, others);
      if (!series.has(label)) series.set(label, { label, values: buckets.map(() => null), events: buckets.map(() => 0) });
      const line = series.get(label);
      line.values[column.get(group.key[time])] = group.value;
      line.events[column.get(group.key[time])] = group.events;
    }
    return { ...base, kind: "time", dimension: time, x: buckets.map(bucketSeconds), buckets, series: [...series.values()] };
  }
  // Busiest first; a group whose value is null (every event skipped) goes last.
  const bars = summary.groups
    .map((group) => ({ label: groupLabel(group.key, others), value: group.value, events: group.events }))
    .sort((a, b) => (b.value ?? -Infinity) - (a.value ?? -Infinity) || a.label.localeCompare(b.label));
  return {
    ...base,
    kind: "bars",
    labels: bars.map((bar) => bar.label),
    values: bars.map((bar) => bar.value),
    events: bars.map((bar) => bar.events),
  };
}
