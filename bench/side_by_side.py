"""Section 8 (`bench/run.py --node-peer PATH/dist/index.js`): dodo-mcp, the official Node server and the
bare forwarder, measured side by side in interleaved rounds against one constant-cost backend.

Every server gets the same bench/constant_backend.py on 127.0.0.1 (answers prepared at start-up,
TCP_NODELAY), so what differs between them is their own cost. Each round measures every figure for
every server, the servers' order rotating from round to round; a ratio is taken within a round and the
table gives its median and range over the rounds. Server CPU is user + system time from /proc/PID/stat
over the measured calls, divided by the calls.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

from bench import http_load
from bench.common import (
    BENCH,
    DODO_MCP,
    PYTHON,
    SANDBOX_KEY,
    BenchError,
    ConstantBackend,
    RawClient,
    cpu_seconds,
    load_average,
    rss_kib,
    server_env,
    summary_ms,
)

DODO, NODE, BARE = "dodo-mcp", "Node 2.9.3", "bare forwarder"
JQ_NOTE = (
    "Node 2.9.3 is built from source with jq-web 0.6.2 from npm in place of the stainless-api fork 0.8.8 "
    "(bench/README.md): it loads an older jq wasm, so its cold start and memory may differ slightly from "
    "the published server's."
)


@dataclass(frozen=True)
class Contender:
    """One server under test: how to start it on stdio and on Streamable HTTP, and its tools' names."""

    name: str
    stdio_argv: list[str]
    list_tool: str
    retrieve_tool: str
    ingest_tool: str
    # (port, stateless) -> argv, or None where the server has no such mode.
    http_argv: Callable[[int, bool], list[str] | None]
    http_path: str
    http_authorization: str
    http_env: dict[str, str] = field(default_factory=dict)


def contenders(node_peer: Path) -> list[Contender]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("bench: --node-peer needs `node` (20 or later) on PATH")
    peer = [node, str(node_peer), "--resource=usage_events"]
    forwarder = [PYTHON, str(BENCH / "bare_forwarder.py")]
    return [
        Contender(
            DODO,
            [DODO_MCP],
            "list_events",
            "retrieve_event",
            "ingest_events",
            lambda port, stateless: (
                [DODO_MCP, "--transport", "streamable-http", "--port", str(port)]
                + (["--stateless"] if stateless else [])
            ),
            "/mcp",
            f"Bearer {http_load.TOKEN}",
            {"DODO_MCP_AUTH_TOKEN": http_load.TOKEN},
        ),
        Contender(
            NODE,
            peer,
            "list_usage_events",
            "retrieve_usage_events",
            "ingest_usage_events",
            # Its HTTP transport is stateless only (a new server and transport per POST, at "/"), and it
            # takes the Dodo API key from the Authorization header.
            lambda port, stateless: [*peer, "--transport=http", f"--port={port}"] if stateless else None,
            "/",
            f"Bearer {SANDBOX_KEY}",
        ),
        Contender(
            BARE,
            forwarder,
            "list_events",
            "retrieve_event",
            "ingest_events",
            lambda port, stateless: [*forwarder, "--http", str(port)] + (["--stateless"] if stateless else []),
            "/mcp",
            "",
        ),
    ]


@dataclass
class Params:
    rounds: int = 3
    cold_runs: int = 5
    call_blocks: int = 4
    call_block: int = 50
    ingest_calls: int = 20
    ingest_size: int = 1000
    http_clients: int = 8
    http_calls: int = 60
    memory_calls: int = 10_000

    @classmethod
    def quick(cls, rounds: int) -> Params:
        return cls(
            rounds=rounds, cold_runs=1, call_blocks=1, call_block=10, ingest_calls=2, http_calls=5, memory_calls=1200
        )


def rotated(items: Sequence[Contender], turn: int) -> list[Contender]:
    turn %= len(items)
    return [*items[turn:], *items[:turn]]


def stdio_env(backend_url: str) -> dict[str, str]:
    # One POST per 1,000 events for dodo-mcp, as the other two send.
    return server_env(backend_url, DODO_MCP_INGEST_BATCH_SIZE="1000")


# One round's measurements; each returns {server: {figure: value}}.


def cold_start(servers: Sequence[Contender], env: dict[str, str], runs: int, turn: int) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {server.name: [] for server in servers}
    for run in range(runs):
        for server in rotated(servers, turn + run):
            with RawClient(server.stdio_argv, env) as client:
                client.initialize()
                times[server.name].append(time.perf_counter() - client.spawned_at)
    return {name: {"init_p50_ms": summary_ms(values)["p50_ms"]} for name, values in times.items()}


def per_call(
    servers: Sequence[Contender], url: str, env: dict[str, str], params: Params, turn: int
) -> dict[str, dict[str, float]]:
    """Added latency over a direct GET, per tool; blocks of calls interleaved across the servers."""
    cells: dict[str, dict[str, list[float]]] = {}
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Accept": "application/json"}

    def shapes(server: Contender | None, n: int) -> dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]]:
        event_id = f"evt_{n % 2000:05d}"
        return {
            "list": (server.list_tool if server else "", {"page_size": 10}, "/events", {"page_size": 10}),
            "retrieve": (server.retrieve_tool if server else "", {"event_id": event_id}, f"/events/{event_id}", {}),
        }

    async def main() -> None:
        raws = {server.name: RawClient(server.stdio_argv, env) for server in servers}
        try:
            for raw in raws.values():
                raw.initialize()
            counter = 0
            async with httpx2.AsyncClient(base_url=url, headers=headers) as http:
                for block in range(params.call_blocks + 1):  # block 0 warms up
                    for tool in ("list", "retrieve"):
                        for _ in range(params.call_block):
                            counter += 1
                            _, _, path, query = shapes(None, counter)[tool]
                            began = time.perf_counter()
                            response = await http.get(path, params=query)
                            elapsed = time.perf_counter() - began
                            response.raise_for_status()
                            if block:
                                cells.setdefault("direct", {}).setdefault(tool, []).append(elapsed)
                        for server in rotated(servers, turn + block):
                            raw = raws[server.name]
                            for _ in range(params.call_block):
                                counter += 1
                                name, arguments, _, _ = shapes(server, counter)[tool]
                                request_id, line = raw.call_tool_line(name, arguments)
                                began = time.perf_counter()
                                raw.send_line(line)
                                answer = raw.wait_for(request_id)
                                elapsed = time.perf_counter() - began
                                if answer["result"].get("isError"):
                                    raise BenchError(f"{server.name} {name}: {str(answer['result'])[:500]}")
                                if block:
                                    cells.setdefault(server.name, {}).setdefault(tool, []).append(elapsed)
        finally:
            for raw in raws.values():
                raw.close()

    anyio.run(main)
    direct = {tool: summary_ms(values) for tool, values in cells.pop("direct").items()}
    figures: dict[str, dict[str, float]] = {}
    for name, by_tool in cells.items():
        figures[name] = {}
        for tool, values in by_tool.items():
            summary = summary_ms(values)
            figures[name][f"{tool}_added_p50_ms"] = summary["p50_ms"] - direct[tool]["p50_ms"]
            figures[name][f"{tool}_added_p99_ms"] = summary["p99_ms"] - direct[tool]["p99_ms"]
    for tool, summary in direct.items():
        figures.setdefault("HTTP direct", {})[f"{tool}_p50_ms"] = summary["p50_ms"]
        figures["HTTP direct"][f"{tool}_p99_ms"] = summary["p99_ms"]
    return figures


def ingested_count(result: dict[str, Any]) -> Any:
    # dodo-mcp and the forwarder answer structuredContent; the Node server a JSON text only.
    structured = result.get("structuredContent") or json.loads(result["content"][0]["text"])
    return structured.get("ingested_count")


def ingest(
    servers: Sequence[Contender], env: dict[str, str], params: Params, turn: int, round_number: int
) -> dict[str, dict[str, float]]:
    size = params.ingest_size

    def line(raw: RawClient, server: Contender, call: int) -> tuple[int, bytes]:
        events = [
            {
                "event_id": f"ing_r{round_number}_{server.name[:4]}_{call:03d}_{k:04d}",
                "customer_id": f"cus_{k % 13}",
                "event_name": "api_request",
                "metadata": {"tokens_used": k, "model": "small", "region": "eu-west-1", "cached": k % 2 == 0},
            }
            for k in range(size)
        ]
        return raw.call_tool_line(server.ingest_tool, {"events": events})

    times: dict[str, list[float]] = {server.name: [] for server in servers}
    cpu: dict[str, float] = {}
    raws = {server.name: RawClient(server.stdio_argv, env) for server in servers}
    try:
        for raw in raws.values():
            raw.initialize()
        for call in range(params.ingest_calls + 1):  # call 0 warms up
            if call == 1:
                cpu = {name: cpu_seconds(raw.pid) for name, raw in raws.items()}
            for server in rotated(servers, turn + call):
                raw = raws[server.name]
                request_id, request = line(raw, server, call)
                began = time.perf_counter()
                raw.send_line(request)
                answer = raw.wait_for(request_id)
                elapsed = time.perf_counter() - began
                result = answer["result"]
                if result.get("isError") or ingested_count(result) != size:
                    raise BenchError(f"{server.name} {server.ingest_tool}: {str(result)[:500]}")
                if call:
                    times[server.name].append(elapsed)
        cpu = {name: cpu_seconds(raw.pid) - cpu[name] for name, raw in raws.items()}
    finally:
        for raw in raws.values():
            raw.close()
    return {
        name: {
            "ingest_p50_ms": summary_ms(values)["p50_ms"],
            "ingest_cpu_ms": cpu[name] * 1000 / len(values),
        }
        for name, values in times.items()
    }


def streamable_http(servers: Sequence[Contender], url: str, params: Params, turn: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {server.name: {} for server in servers}
    for stateless in (True, False):
        mode = "stateless" if stateless else "stateful"
        for server in rotated(servers, turn):
            port = http_load.free_port()
            argv = server.http_argv(port, stateless)
            if argv is None:
                continue
            call = {"name": server.list_tool, "arguments": {"page_size": 10}}
            env = server_env(url, **server.http_env)
            with http_load.served_process(argv, env, port) as process:
                endpoint = f"http://127.0.0.1:{port}{server.http_path}"

                shape = (stateless, False, call, server.http_authorization)
                anyio.run(http_load.load, endpoint, 2, 3, *shape)  # warm-up
                before = cpu_seconds(process.pid)
                result = anyio.run(http_load.load, endpoint, params.http_clients, params.http_calls, *shape)
                used = cpu_seconds(process.pid) - before
            figures[server.name][f"{mode}_calls_per_s"] = result["calls_per_s"]
            figures[server.name][f"{mode}_cpu_ms"] = used * 1000 / result["calls"]
    return figures


def memory(servers: Sequence[Contender], env: dict[str, str], params: Params, turn: int) -> dict[str, dict[str, float]]:
    """RSS after 1,000 and after all the calls (3 retrieve : 1 list, 8 in flight)."""
    calls, window = params.memory_calls, 8
    figures: dict[str, dict[str, float]] = {}
    for server in rotated(servers, turn):
        with RawClient(server.stdio_argv, env) as raw:
            raw.initialize()
            warm = rss_kib(raw.pid)  # replaced by the RSS after call 1,000 when there are that many
            sent = 0
            while sent < calls:
                pending = set()
                for _ in range(min(window, calls - sent)):
                    if sent % 4 == 3:
                        request_id, line = raw.call_tool_line(server.list_tool, {"page_size": 10})
                    else:
                        request_id, line = raw.call_tool_line(server.retrieve_tool, {"event_id": f"evt_{sent:05d}"})
                    raw.send_line(line)
                    pending.add(request_id)
                    sent += 1
                while pending:
                    answer = json.loads(raw.read_line())
                    if answer.get("id") in pending and ("result" not in answer or answer["result"].get("isError")):
                        raise BenchError(f"{server.name}: {str(answer)[:500]}")
                    pending.discard(answer.get("id"))
                if sent == 1000:
                    warm = rss_kib(raw.pid)
            last = rss_kib(raw.pid)
        figures[server.name] = {"rss_mib": last / 1024, "rss_growth_pct": (last / warm - 1) * 100}
    return figures


# The rounds, then the table.


def run(node_peer: Path, params: Params) -> dict[str, Any]:
    if not node_peer.is_file():
        raise SystemExit(f"bench: --node-peer {node_peer}: no such file (bench/README.md says how to build it)")
    servers = contenders(node_peer)
    rounds: list[dict[str, dict[str, float]]] = []
    load_before = load_average()
    with ConstantBackend() as backend:
        env = stdio_env(backend.url)
        for number in range(params.rounds):
            print(f"  round {number + 1} of {params.rounds} (load average {load_average()})", flush=True)
            figures: dict[str, dict[str, float]] = {}
            for measured in (
                cold_start(servers, env, params.cold_runs, number),
                per_call(servers, backend.url, env, params, number),
                ingest(servers, env, params, number, number),
                streamable_http(servers, backend.url, params, number),
                memory(servers, env, params, number),
            ):
                for name, found in measured.items():
                    figures.setdefault(name, {}).update(found)
            rounds.append(figures)
    return {
        "params": params.__dict__,
        "node_peer": str(node_peer),
        "node": node_version(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "rounds": rounds,
    }


def node_version() -> str:
    node = shutil.which("node") or "node"
    return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()


@dataclass(frozen=True)
class Line:
    """One row of the side-by-side table; `ratios` are dodo-mcp's over the peer's, per round."""

    figure: str
    cells: dict[str, str]
    versus_node: str
    versus_bare: str
    target: str
    met: bool | None


def values(rounds: Sequence[dict[str, dict[str, float]]], name: str, figure: str) -> list[float]:
    return [r[name][figure] for r in rounds if figure in r.get(name, {})]


def median(rounds: Sequence[dict[str, dict[str, float]]], name: str, figure: str) -> float | None:
    found = values(rounds, name, figure)
    return statistics.median(found) if found else None


def ratios(rounds: Sequence[dict[str, dict[str, float]]], other: str, figure: str) -> list[float]:
    """dodo-mcp's figure over the other's, per round; a round where either is not above zero (an added
    latency within the noise of the direct GET) has no meaningful ratio and is left out."""
    return [
        r[DODO][figure] / r[other][figure]
        for r in rounds
        if r.get(DODO, {}).get(figure, 0) > 0 and r.get(other, {}).get(figure, 0) > 0
    ]


def ratio_text(found: list[float], rounds: int) -> str:
    if not found:
        return "—"
    low, high = min(found), max(found)
    partial = f", {len(found)} of {rounds} rounds" if len(found) < rounds else ""
    return f"{statistics.median(found):.2f}× ({low:.2f}–{high:.2f}{partial})"


def lines(data: dict[str, Any]) -> list[Line]:
    rounds: list[dict[str, dict[str, float]]] = data["rounds"]
    size = data["params"]["ingest_size"]
    calls = data["params"]["memory_calls"]
    names = (DODO, NODE, BARE)

    def cells(template: str, *figures: str) -> dict[str, str]:
        """Each server's medians of `figures` put into `template`, or a dash where it has none of them."""
        out = {}
        for name in names:
            found = [median(rounds, name, figure) for figure in figures]
            out[name] = template.format(*found) if all(v is not None for v in found) else "—"
        return out

    def ratio_median(other: str, figure: str) -> float | None:
        found = ratios(rounds, other, figure)
        return statistics.median(found) if found else None

    result: list[Line] = []

    ingest_met = ratio_median(NODE, "ingest_p50_ms")
    result.append(
        Line(
            f"ingest {size:,} events: p50 per call (server CPU)",
            cells("{:.1f} ms ({:.1f} ms)", "ingest_p50_ms", "ingest_cpu_ms"),
            ratio_text(ratios(rounds, NODE, "ingest_p50_ms"), len(rounds)),
            ratio_text(ratios(rounds, BARE, "ingest_p50_ms"), len(rounds)),
            "p50 ≤ 1.0× Node's",
            None if ingest_met is None else ingest_met <= 1.0,
        )
    )
    for tool, label in (("list", "list_events"), ("retrieve", "retrieve_event")):
        p50, p99 = f"{tool}_added_p50_ms", f"{tool}_added_p99_ms"
        vs_node = ratio_median(NODE, p50)
        ours99 = median(rounds, DODO, p99)
        met = None if vs_node is None or ours99 is None else vs_node <= 1.0 and ours99 <= 2.0
        result.append(
            Line(
                f"{label}, added over a direct HTTP GET, p50 / p99",
                cells("{:+.2f} / {:+.2f} ms", p50, p99),
                ratio_text(ratios(rounds, NODE, p50), len(rounds)),
                ratio_text(ratios(rounds, BARE, p50), len(rounds)),
                "p50 ≤ 1.0× Node's; p99 ≤ 2 ms",
                met,
            )
        )
    vs_bare = ratio_median(BARE, "init_p50_ms")
    result.append(
        Line(
            "spawn → initialize p50",
            cells("{:.0f} ms", "init_p50_ms"),
            ratio_text(ratios(rounds, NODE, "init_p50_ms"), len(rounds)),
            ratio_text(ratios(rounds, BARE, "init_p50_ms"), len(rounds)),
            "≤ 1.0× the bare SDK server's (stretch ≤ 0.8×)",
            None if vs_bare is None else vs_bare <= 1.0,
        )
    )
    clients = data["params"]["http_clients"]
    for mode in ("stateless", "stateful"):
        rate, cpu = f"{mode}_calls_per_s", f"{mode}_cpu_ms"
        if mode == "stateless":
            vs_node, cpu_vs_node = ratio_median(NODE, rate), ratio_median(NODE, cpu)
            met = None if vs_node is None or cpu_vs_node is None else vs_node >= 1.0 and cpu_vs_node <= 1.0
            target = "≥ 1.0× Node's calls/s, server CPU per call ≤ Node's"
        else:
            vs_bare = ratio_median(BARE, rate)
            met = None if vs_bare is None else vs_bare >= 1.0
            target = "≥ 1.0× the bare SDK server's calls/s"
        result.append(
            Line(
                f"Streamable HTTP {mode}, {clients} clients: calls/s (server CPU per call)",
                cells("{:.0f}/s ({:.2f} ms)", rate, cpu),
                ratio_text(ratios(rounds, NODE, rate), len(rounds)),
                ratio_text(ratios(rounds, BARE, rate), len(rounds)),
                target,
                met,
            )
        )
    ours_rss, ours_growth = median(rounds, DODO, "rss_mib"), median(rounds, DODO, "rss_growth_pct")
    result.append(
        Line(
            f"RSS after {calls:,} calls (growth from call 1,000)",
            cells("{:.1f} MiB ({:+.1f}%)", "rss_mib", "rss_growth_pct"),
            ratio_text(ratios(rounds, NODE, "rss_mib"), len(rounds)),
            ratio_text(ratios(rounds, BARE, "rss_mib"), len(rounds)),
            "≤ 75 MiB, flat (≤ 5% from call 1,000)",
            None if ours_rss is None or ours_growth is None else ours_rss <= 75 and ours_growth <= 5,
        )
    )
    return result


def markdown(data: dict[str, Any]) -> list[str]:
    params = data["params"]
    out = [
        "## Side by side with the official Node server",
        "",
        f"{params['rounds']} interleaved rounds against bench/constant_backend.py (a constant-cost, TCP_NODELAY "
        "stand-in for the Dodo API on 127.0.0.1), so each figure is the server's own cost. Each cell is the median "
        "over the rounds; a ratio is dodo-mcp's figure over the other server's within one round, given as the "
        "median and (range) over the rounds. "
        f"Per round: {params['cold_runs']} spawns per server; {params['call_blocks'] * params['call_block']} calls "
        f"per tool per server in blocks of {params['call_block']}; {params['ingest_calls']} ingest calls of "
        f"{params['ingest_size']:,} events; {params['http_clients']} HTTP clients × {params['http_calls']} calls; "
        f"{params['memory_calls']:,} calls for RSS (3 retrieve : 1 list, 8 in flight). "
        f"Node {data['node']}, `{Path(data['node_peer']).name}` run with `--resource=usage_events`. "
        f"Load average (1, 5, 15 min) {data['load_average_before']} before, {data['load_average_after']} after.",
        "",
        f"{JQ_NOTE} Its stateful cell is empty: its HTTP transport is stateless only.",
        "",
        f"| figure | {DODO} | {NODE} | {BARE} | {DODO} ÷ Node | {DODO} ÷ bare | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for line in lines(data):
        met = "" if line.met is None else ("yes" if line.met else "**no**")
        out.append(
            f"| {line.figure} | {line.cells[DODO]} | {line.cells[NODE]} | {line.cells[BARE]} | "
            f"{line.versus_node} | {line.versus_bare} | {line.target} | {met} |"
        )
    out.append("")
    return out
