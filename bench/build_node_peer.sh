#!/usr/bin/env bash
# Build the official Dodo Payments MCP server (dodopayments-mcp 2.9.3, Node) from its public source, as the
# peer that `bench/run.py --node-peer` measures beside dodo-mcp. See bench/README.md for where the two source
# trees come from and what each step does.
#
#   bench/build_node_peer.sh DODOPAYMENTS_TYPESCRIPT_TREE TSC_MULTI_TREE OUT_DIR
#
#   DODOPAYMENTS_TYPESCRIPT_TREE  dodopayments-typescript at tag v2.9.3 (f0b8c23937d213d41f32a90468108818d324cec8)
#   TSC_MULTI_TREE                stainless-api/tsc-multi at tag v1.1.9 (95eea3097d043b798a2c6b7527e3ccd34b47c436)
#   OUT_DIR                       where to build (created; the input trees are copied, never changed)
#
# The peer is OUT_DIR/dodopayments-typescript/packages/mcp-server/dist/index.js; the script prints the path.
# Network: the npm registry only (npm, pnpm and yarn all come from it). Needs node >= 20 and npm on PATH.
#
# The upstream build fetches two packages from GitHub release tarballs; here they are replaced:
#   tsc-multi  built from its source tree (TSC_MULTI_TREE) with its own pnpm lockfile, packed with npm pack;
#   jq-web     the npm registry's jq-web@0.6.2 (the upstream stainless-api fork 0.8.8 is on GitHub only). It
#              loads an older jq wasm: the peer's cold start and memory may differ slightly from the published
#              server's. The benchmarked tools never run a jq filter unless a call passes one (the bench does not).
# Everything else resolves from the repositories' own yarn.lock files. The mcpb bundle and sign steps of
# packages/mcp-server/build are skipped (the bench runs dist/index.js directly).
set -euo pipefail

if [ "$#" -ne 3 ]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
src=$(cd "$1" && pwd)
tsc_src=$(cd "$2" && pwd)
mkdir -p "$3"
out=$(cd "$3" && pwd)

step() { printf '\n=== %s\n' "$*"; }
need() { [ -e "$1" ] || { echo "build_node_peer: $1 is missing; is $2 the right tree?" >&2; exit 2; }; }
need "$src/packages/mcp-server/package.json" "$1"
need "$src/scripts/build" "$1"
need "$tsc_src/scripts/tslib.cjs" "$2"
grep -q '"version": "2.9.3"' "$src/packages/mcp-server/package.json" ||
  { echo "build_node_peer: $1/packages/mcp-server is not version 2.9.3" >&2; exit 2; }
grep -q '"version": "1.1.9"' "$tsc_src/package.json" ||
  { echo "build_node_peer: $2 is not tsc-multi 1.1.9" >&2; exit 2; }

export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
# pnpm 9.12.3 is what tsc-multi's package.json names (packageManager); yarn 1.22.22 is what dodopayments names.
pnpm=(npx --yes pnpm@9.12.3)
yarn=(npx --yes yarn@1.22.22)

step "tsc-multi 1.1.9 from source (pnpm install --frozen-lockfile, build, npm pack)"
rm -rf "$out/tsc-multi" && cp -a "$tsc_src" "$out/tsc-multi"
(
  cd "$out/tsc-multi"
  "${pnpm[@]}" install --frozen-lockfile
  "${pnpm[@]}" run build
  rm -f tsc-multi-*.tgz
  npm pack --silent >/dev/null
)
tsc_tgz="$out/tsc-multi/tsc-multi-1.1.9.tgz"
need "$tsc_tgz" "$2"

# Points one dependency of a package.json at another spec, in place.
set_dependency() { # file section name spec
  node -e '
    const fs = require("fs");
    const [file, section, name, spec] = process.argv.slice(1);
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    if (!pkg[section] || !(name in pkg[section])) throw new Error(`${file} has no ${section}.${name}`);
    pkg[section][name] = spec;
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  ' "$@"
}

step "dodopayments 2.9.3 (the root package that the MCP server depends on as file:../../dist/)"
rm -rf "$out/dodopayments-typescript" && cp -a "$src" "$out/dodopayments-typescript"
root="$out/dodopayments-typescript"
set_dependency "$root/package.json" devDependencies tsc-multi "file:$tsc_tgz"
set_dependency "$root/packages/mcp-server/package.json" devDependencies tsc-multi "file:$tsc_tgz"
set_dependency "$root/packages/mcp-server/package.json" dependencies jq-web "0.6.2"
(
  cd "$root"
  # Not --frozen-lockfile: the two replaced entries change; every other entry stays as locked.
  "${yarn[@]}" install --non-interactive
  # scripts/build up to (not including) its loop over packages/*, which would also run the mcpb steps.
  sed '/^# build all sub-packages/,$d' scripts/build >scripts/build-root-only
  bash scripts/build-root-only
)

step "dodopayments-mcp 2.9.3 (packages/mcp-server/build without its mcpb bundle and sign steps)"
(
  cd "$root/packages/mcp-server"
  # --ignore-scripts: its "prepare" script is the full build, mcpb bundle and sign included; none of its
  # dependencies has an install script.
  "${yarn[@]}" install --non-interactive --ignore-scripts
  sed '/^# mcp bundle/,$d' build >build-without-bundle
  bash build-without-bundle
)

peer="$root/packages/mcp-server/dist/index.js"
need "$peer" "$1"
step "check: over stdio, --resource=usage_events serves the three usage-events tools"
listed=$(printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"build","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' |
  DODO_PAYMENTS_API_KEY=unused timeout 60 node "$peer" --resource=usage_events 2>/dev/null || true)
for tool in ingest_usage_events list_usage_events retrieve_usage_events; do
  grep -q "\"name\":\"$tool\"" <<<"$listed" || { echo "build_node_peer: tools/list lacks $tool: $listed" >&2; exit 1; }
done
printf 'tools/list: ingest_usage_events, list_usage_events, retrieve_usage_events\nnode peer: %s\n' "$peer"
