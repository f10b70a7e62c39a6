// The host's theme and style variables (hostContext.theme, hostContext.styles.variables) on the page's root:
// usage.css maps them to the chart's colours, with light and dark defaults for a host that sends none.

/** Apply what `context` says of the theme; true when something the charts are drawn with changed. */
export function applyTheme(context, root = document.documentElement) {
  let changed = false;
  if (context.theme === "light" || context.theme === "dark") {
    changed ||= root.dataset.theme !== context.theme;
    root.dataset.theme = context.theme;
  }
  const variables = context.styles?.variables;
  if (variables && typeof variables === "object") {
    for (const [name, value] of Object.entries(variables)) {
      if (!name.startsWith("--") || typeof value !== "string") continue;
      changed ||= root.style.getPropertyValue(name) !== value;
      root.style.setProperty(name, value);
    }
  }
  return changed;
}
