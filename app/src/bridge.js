// The view's side of the MCP Apps postMessage protocol (io.modelcontextprotocol/ui, 2026-01-26), written to
// the spec. The official App class (@modelcontextprotocol/ext-apps) bundles the MCP SDK and zod: 660 kB of
// script for what this view needs, which is the handshake, three notifications and two requests. The tests
// drive this file against the official host side, AppBridge, in a real browser.

export const PROTOCOL_VERSION = "2026-01-26";

const APP_INFO = { name: "dodo-mcp usage", version: "1" };

/**
 * Connect to the host (the parent window) and hand each message to `on`:
 * `on.context(hostContext)`, `on.input(arguments)`, `on.result(callToolResult)`, `on.cancelled(reason)`.
 */
export function connect(on, host = window.parent) {
  let nextId = 1;
  const pending = new Map();

  const send = (message) => host.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const request = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      send({ id, method, params });
    });
  const notify = (method, params) => send({ method, params });

  const notifications = {
    "ui/notifications/tool-input": (params) => on.input(params.arguments ?? {}),
    "ui/notifications/tool-result": (params) => on.result(params),
    "ui/notifications/tool-cancelled": (params) => on.cancelled(params.reason),
    "ui/notifications/host-context-changed": (params) => on.context(params),
  };
  // Requests the host may send: a teardown before the view is removed, and pings. Nothing to clean up.
  const requests = { "ui/resource-teardown": () => ({}), ping: () => ({}) };

  window.addEventListener("message", (event) => {
    if (event.source !== host) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.method === undefined) {
      const waiting = pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id);
      if (message.error) waiting.reject(new Error(message.error.message));
      else waiting.resolve(message.result);
    } else if (message.id !== undefined) {
      const handler = requests[message.method];
      if (handler) send({ id: message.id, result: handler(message.params) });
      else send({ id: message.id, error: { code: -32601, message: `Method not found: ${message.method}` } });
    } else {
      notifications[message.method]?.(message.params ?? {});
    }
  });

  const ready = request("ui/initialize", {
    appInfo: APP_INFO,
    appCapabilities: {},
    protocolVersion: PROTOCOL_VERSION,
  }).then((result) => {
    on.context(result.hostContext ?? {});
    notify("ui/notifications/initialized", {});
    return result;
  });

  return {
    ready,
    // Tell the host how tall the view is, so an inline frame fits it without a scrollbar.
    sizeChanged: (width, height) => notify("ui/notifications/size-changed", { width, height }),
  };
}
