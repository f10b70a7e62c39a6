// Builds the usage view into ONE self-contained HTML file, dodo_mcp/ui/usage.html: the script bundled and
// minified by esbuild, the styles inlined, uPlot's licence in a comment. The output depends on the sources
// and the pinned packages alone (no timestamps, no paths), so `node build.mjs --check` (CI) can ask that the
// committed file be exactly what the sources build.

import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const OUTPUT = join(here, "..", "dodo_mcp", "ui", "usage.html");

async function text(...path) {
  return readFile(join(here, ...path), "utf8");
}

export async function build() {
  const script = await esbuild.build({
    entryPoints: [join(here, "src", "main.js")],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    platform: "browser",
    legalComments: "none",
    charset: "utf8",
    write: false,
  });
  const js = script.outputFiles[0].text.trim();
  const styles = await esbuild.transform(
    (await text("node_modules", "uplot", "dist", "uPlot.min.css")) + (await text("src", "usage.css")),
    { loader: "css", minify: true, charset: "utf8" },
  );
  const uplot = JSON.parse(await text("node_modules", "uplot", "package.json"));
  const licence = (await text("node_modules", "uplot", "LICENSE")).trim();
  const licenses = `<!--\nThe dodo-mcp usage view (Apache-2.0). It bundles uPlot ${uplot.version} (https://github.com/leeoniya/uPlot):\n\n${licence.replaceAll("--", "- -")}\n-->`;
  if (js.includes("</script")) throw new Error("the script holds '</script', which would end its element early");
  const template = await text("src", "usage.html");
  return template
    .replace("<!--LICENSES-->", () => licenses)
    .replace("/*STYLES*/", () => styles.code.trim())
    .replace("/*SCRIPT*/", () => js);
}

const html = await build();
if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = await readFile(OUTPUT, "utf8");
  } catch {}
  if (committed !== html) {
    console.error(`${OUTPUT} is not what app/ builds: run \`cd app && npm ci && npm run build\` and commit the result`);
    process.exit(1);
  }
  console.log(`${OUTPUT}: up to date (${Buffer.byteLength(html)} bytes)`);
} else {
  await mkdir(dirname(OUTPUT), { recursive: true });
  await writeFile(OUTPUT, html);
  console.log(`wrote ${OUTPUT} (${Buffer.byteLength(html)} bytes)`);
}
