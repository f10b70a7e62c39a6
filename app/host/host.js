// A host page for the tests: the official host side of MCP Apps (AppBridge, @modelcontextprotocol/ext-apps)
// renders a view in a sandboxed iframe, as chat hosts do, and hands it a tool's input and result.

import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST_INFO = { name: "dodo-mcp test host", version: "1" };

window.hostLog = { sizes: [], createdAt: undefined, resultSentAt: undefined };

/** Render `html` and hand it `toolInput` and `toolResult`; resolves once the result is sent. */
window.startApp = async ({ html, toolInput, toolResult, hostContext }) => {
  const iframe = document.getElementById("app");
  const bridge = new AppBridge(null, HOST_INFO, {}, { hostContext });
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = resolve;
  });
  bridge.onsizechange = ({ height }) => {
    window.hostLog.sizes.push(height);
    if (height) iframe.style.height = `${Math.min(height, 900)}px`;
  };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  window.hostLog.createdAt = performance.timeOrigin + performance.now();
  iframe.srcdoc = html;
  await initialized;
  await bridge.sendToolInput({ arguments: toolInput });
  window.hostLog.resultSentAt = performance.timeOrigin + performance.now();
  await bridge.sendToolResult(toolResult);
  window.bridge = bridge;
};

/** Change the host's theme and style variables, as a host does when the user switches. */
window.setHostContext = (context) => window.bridge.setHostContext(context);

/** How much of a PNG (base64) is not its most common colour, and how many colours it has. */
window.inkOf = async (png) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const blob = new Blob([bytes], { type: "image/png" });
  const bitmap = await createImageBitmap(blob);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const counts = new Map();
  for (let i = 0; i < pixels.length; i += 4) {
    const colour = (pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2];
    counts.set(colour, (counts.get(colour) ?? 0) + 1);
  }
  const total = pixels.length / 4;
  const background = Math.max(...counts.values());
  const [top] = [...counts.entries()].find(([, n]) => n === background);
  return { inked: 1 - background / total, colours: counts.size, background: `#${top.toString(16).padStart(6, "0")}` };
};
