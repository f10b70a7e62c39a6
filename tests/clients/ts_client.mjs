// Oracle: the TypeScript SDK's own client drives every tool of `dodo-mcp --sandbox` over stdio with
// arguments generated from each tool's published inputSchema (json-schema-faker, seeded).
//
//   node tests/clients/ts_client.mjs <dodo-mcp executable> [server args...]
//   (default server args: --sandbox --sandbox-db :memory:)
//
// Every answer must be a result, or a clear tool error: isError with one text block that is not the
// SDK's generic "Error executing tool ..." wrapper of an unhandled exception. A JSON-RPC error fails,
// and so does a result whose structuredContent does not match the tool's outputSchema: the SDK's
// Client.callTool checks that itself (after listTools), throwing McpError. Each generated argument
// object is first checked against the inputSchema with the SDK's own Ajv validator, so a server
// refusal below is the server's stricter rules (timestamps, ids, limits the schema only describes),
// never a malformed call. Exits 1 on the first failure, with the tool, the arguments and the answer.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { generate } from "json-schema-faker";

const ALL_TOOLS = [
  "retrieve_event",
  "list_events",
  "ingest_events",
  "summarize_events",
  "explain_meter_match",
  "list_meters",
  "usage_history",
];
// Calls per tool: half with only the required properties, half with every optional one too.
const SAMPLES = 12;
// Generated timestamps inside the window Dodo accepts (the last hour), so some ingests succeed. A format
// of our own: json-schema-faker 0.6.3's minDateTime/maxDateTime keep only the date (always T01:01:01).
const now = Date.now();
const formats = { "date-time": (random) => new Date(now - random.int(1, 50 * 60) * 1000).toISOString() };

const [command, ...rest] = process.argv.slice(2);
if (!command) {
  console.error("usage: node tests/clients/ts_client.mjs <dodo-mcp> [server args...]");
  process.exit(2);
}
const args = rest.length > 0 ? rest : ["--sandbox", "--sandbox-db", ":memory:"];

function fail(message) {
  console.error(`FAIL ${message}`);
  process.exit(1);
}

const transport = new StdioClientTransport({ command, args, stderr: "ignore" });
const client = new Client({ name: "dodo-mcp-ts-oracle", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
const names = tools.map((tool) => tool.name);
if (JSON.stringify(names) !== JSON.stringify(ALL_TOOLS)) fail(`tools/list gave ${JSON.stringify(names)}`);

const validator = new AjvJsonSchemaValidator();
const tally = [];
for (const tool of tools) {
  const valid = validator.getValidator(tool.inputSchema);
  let results = 0;
  const errors = new Map();
  for (let seed = 1; seed <= SAMPLES; seed++) {
    const optionals = seed % 2 === 0 ? { alwaysFakeOptionals: true } : { optionalsProbability: 0 };
    const options = { seed, ...optionals, maxItems: 3, maxDefaultItems: 3, formats };
    const input = await generate(tool.inputSchema, options);
    const shown = JSON.stringify(input);
    const check = valid(input);
    if (!check.valid) fail(`${tool.name}: json-schema-faker made arguments its inputSchema refuses (${check.errorMessage}): ${shown}`);
    let result;
    try {
      result = await client.callTool({ name: tool.name, arguments: input });
    } catch (error) {
      fail(`${tool.name} ${shown}: ${error?.constructor?.name}: ${error?.message}`);
    }
    if (!result.isError) {
      results++;
      continue;
    }
    const text = result.content.length === 1 && result.content[0].type === "text" ? result.content[0].text : "";
    if (text === "" || text.startsWith("Error executing tool")) {
      fail(`${tool.name} ${shown}: an unclear tool error: ${JSON.stringify(result.content)}`);
    }
    // "Invalid arguments", "Dodo API error 404 NOT_FOUND": what kind of refusal, not its particulars.
    const kind = text.match(/^[^:(]*/)[0].trim();
    if (process.env.DODO_MCP_TS_CLIENT_VERBOSE === "1") console.log(`${tool.name} ${shown}\n  ${text.replaceAll("\n", "\n  ")}`);
    errors.set(kind, (errors.get(kind) ?? 0) + 1);
  }
  tally.push([tool.name, results, errors]);
}
await client.close();

for (const [name, results, errors] of tally) {
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  console.log(`${name}: ${results} results, ${errorCount} tool errors`);
  for (const [kind, count] of errors) console.log(`  ${count} x ${kind}`);
}
console.log(`ts sdk client: ${tools.length} tools x ${SAMPLES} generated calls, every answer a result or a clear tool error`);
