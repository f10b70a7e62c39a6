// What a usage_history result draws: per meter, the free and the chargeable units of each billing period,
// oldest period first. Pure data, no DOM.

import { bucketSeconds } from "./summary.js";

/** The charts of a usage_history page (its structuredContent), one per meter, in the order Dodo lists them. */
export function meterCharts(page) {
  const periods = [...page.items].reverse();
  const meters = new Map();
  periods.forEach((period, index) => {
    for (const meter of period.meters) {
      if (!meters.has(meter.id)) {
        meters.set(meter.id, {
          kind: "meter",
          meterId: meter.id,
          title: `${meter.name}: free and chargeable units per billing period`,
          unit: "units",
          currency: meter.currency,
          x: periods.map((p) => bucketSeconds(p.start_date)),
          periods: periods.map((p) => `${p.start_date.slice(0, 10)} to ${p.end_date.slice(0, 10)}`),
          free: periods.map(() => null),
          chargeable: periods.map(() => null),
          price: periods.map(() => null),
        });
      }
      const chart = meters.get(meter.id);
      const consumed = Number(meter.consumed_units);
      const chargeable = Number(meter.chargeable_units);
      // The free units used: what was consumed up to the free threshold.
      chart.free[index] = consumed - chargeable;
      chart.chargeable[index] = chargeable;
      chart.price[index] = meter.total_price;
    }
  });
  return [...meters.values()];
}

/** Whether a tool result's structuredContent is a usage_history page rather than a summary. */
export function isUsageHistory(structured) {
  return Array.isArray(structured?.items) && "has_more" in structured;
}
