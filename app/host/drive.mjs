// Drives headless Chromium (Debian's, at $CHROMIUM or /usr/bin/chromium; puppeteer-core downloads no browser)
// through the test host (host.js): for each case on stdin, the view in its iframe is handed a tool result,
// and what it drew is read back. Prints one JSON report on stdout.
//
// stdin: {"html": "<the view>", "cases": [{"name", "toolInput", "toolResult", "hostContext",
//          "width", "then": hostContext to switch to after the first draw (optional), "screenshot": path}]}
// stdout: {"cases": [{"name", "view", "charts": [{"kind", "title", "unit", "series", "data"}], "notes",
//          "message", "ink", "firstContentfulPaintMs", "drawnMs", "sizes"}], "requests", "console"}

import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function hostPage() {
  const bundle = await esbuild.build({
    entryPoints: [join(here, "host.js")],
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0].text.replaceAll("</script", "<\\/script");
  return `<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0}iframe{border:0;display:block}</style></head>
<body><iframe id="app" sandbox="allow-scripts" title="dodo-mcp usage"></iframe><script>${script}</script></body></html>`;
}

// What the view drew, read from its own state: the uPlot instances (their data and series) and the page.
function readBack() {
  const shown = window.dodoUsage;
  const paint = performance.getEntriesByType("paint").find((entry) => entry.name === "first-contentful-paint");
  return {
    view: shown.view,
    charts: shown.charts.map(({ model, plot }) => ({
      kind: model.kind,
      title: model.title,
      unit: model.unit,
      labels: model.labels ?? null,
      series: plot.series ? plot.series.map((series) => series.label) : [],
      data: plot.data ? plot.data.map((column) => Array.from(column)) : [],
      width: plot.width,
      height: plot.height,
    })),
    titles: [...document.querySelectorAll("h1")].map((h) => h.textContent),
    notes: [...document.querySelectorAll(".note")].map((note) => ({ kind: note.classList[1], text: note.textContent })),
    message: document.querySelector(".message")?.textContent ?? null,
    background: getComputedStyle(document.body).backgroundColor,
    firstContentfulPaintMs: paint ? paint.startTime : null,
    drawnAt: shown.drawnAt === undefined ? null : performance.timeOrigin + shown.drawnAt,
    timeOrigin: performance.timeOrigin,
  };
}

const input = await stdin();
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Root in a container: Chromium's own sandbox needs user namespaces it may not have.
  args: ["--no-sandbox", "--disable-gpu", "--font-render-hinting=none", "--no-first-run"],
});
const report = { cases: [], requests: [], console: [] };
try {
  const html = await hostPage();
  for (const item of input.cases) {
    const page = await browser.newPage();
    await page.setViewport({ width: item.width ?? 640, height: 900, deviceScaleFactor: item.scale ?? 1 });
    await page.setRequestInterception(true);
    page.on("request", (request) => {
      const url = request.url();
      if (url !== "about:blank" && url !== "about:srcdoc") report.requests.push({ case: item.name, url });
      // Nothing may leave the machine, nor even be asked for.
      request.abort();
    });
    page.on("console", (message) => {
      if (["error", "warn", "warning", "assert"].includes(message.type())) {
        report.console.push({ case: item.name, type: message.type(), text: message.text() });
      }
    });
    page.on("pageerror", (error) => report.console.push({ case: item.name, type: "pageerror", text: String(error) }));
    await page.setContent(html);
    await page.evaluate((width) => {
      document.getElementById("app").style.width = `${width}px`;
    }, item.width ?? 640);
    await page.evaluate((args) => window.startApp(args), {
      html: input.html,
      toolInput: item.toolInput ?? {},
      toolResult: item.toolResult,
      hostContext: item.hostContext ?? {},
    });
    const frame = page.frames().find((f) => f !== page.mainFrame());
    await frame.waitForFunction(() => window.dodoUsage && window.dodoUsage.view !== "waiting");
    if (item.then) {
      const before = (await frame.evaluate(readBack)).background;
      await page.evaluate((context) => window.setHostContext(context), item.then);
      await frame.waitForFunction((bg) => getComputedStyle(document.body).backgroundColor !== bg, { timeout: 10000 }, before);
    }
    // Let the host apply the last size the view asked for, then read everything back.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const drawn = await frame.evaluate(readBack);
    const host = await page.evaluate(() => window.hostLog);
    const element = await page.$("#app");
    const png = await element.screenshot({ encoding: "base64" });
    if (item.screenshot) await element.screenshot({ path: item.screenshot });
    const ink = await page.evaluate((data) => window.inkOf(data), png);
    report.cases.push({
      name: item.name,
      ...drawn,
      ink,
      sizes: host.sizes,
      drawnMs: drawn.drawnAt === null ? null : drawn.drawnAt - drawn.timeOrigin,
      resultToDrawnMs: drawn.drawnAt === null ? null : drawn.drawnAt - host.resultSentAt,
    });
    await page.close();
  }
} catch (error) {
  process.stderr.write(`${error.stack}\nconsole so far: ${JSON.stringify(report.console)}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
if (!process.exitCode) process.stdout.write(JSON.stringify(report));
