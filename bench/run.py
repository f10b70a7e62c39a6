"""Run every dodo-mcp benchmark, print one table, write JSON to bench/results/ and regenerate BENCHMARKS.md.

    .venv/bin/python bench/run.py            # or: .venv/bin/python -m bench   (about 3 minutes)
    .venv/bin/python bench/run.py --quick    # a smoke run with few samples; does not touch BENCHMARKS.md
    .venv/bin/python bench/run.py --node-peer PATH/dist/index.js   # adds section 8: side by side with the
                                             # official Node server (bench/README.md says how to build it)

Everything runs on this machine over stdio pipes and 127.0.0.1. Every server is started here and stopped
before the run ends. Timings are medians and p99 over the stated number of samples; ratios compare
figures measured in the same run.
"""

from __future__ import annotations

import argparse
import compileall
import json
import logging
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import httpx2

from bench import import_breakdown, side_by_side, tokens
from bench.common import (
    BENCH,
    DODO_MCP,
    PYTHON,
    ROOT,
    SANDBOX_KEY,
    BenchError,
    RawClient,
    Sandbox,
    load_average,
    machine,
    rss_kib,
    server_env,
    summary_ms,
)

RESULTS = BENCH / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"

DODO = ("dodo-mcp", [DODO_MCP])
LEAN = ("dodo-mcp, SDK stdio", [PYTHON, str(BENCH / "sdk_stdio_dodo.py")])
BARE = ("bare MCPServer", [PYTHON, str(BENCH / "bare_server.py")])
FORWARDER = ("bare forwarder", [PYTHON, str(BENCH / "bare_forwarder.py")])


@dataclass
class Params:
    cold_runs: int = 9
    call_rounds: int = 6
    call_block: int = 50
    ingest_calls: int = 10
    ingest_size: int = 1000
    memory_calls: int = 10_000
    sandbox_events: int = 20_000
    sandbox_samples: int = 50
    http_quick: bool = False

    @classmethod
    def quick(cls) -> Params:
        return cls(
            cold_runs=2,
            call_rounds=2,
            call_block=10,
            ingest_calls=2,
            memory_calls=500,
            sandbox_events=2000,
            http_quick=True,
        )


@dataclass
class Row:
    section: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    # Sections with a table of their own (section 8), appended to BENCHMARKS.md as they are.
    markdown: list[str] = field(default_factory=list)

    def add(self, section: str, metric: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(section, metric, value, target, met))
        mark = "" if met is None else ("  [met]" if met else "  [NOT met]")
        print(f"  {metric}: {value}" + (f"  (target {target}){mark}" if target else ""), flush=True)


def ms(value: float) -> str:
    return f"{value:.2f} ms"


def spread(summary: dict[str, float]) -> str:
    return f"p50 {summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms"


# 1. Cold start.


def cold_start(report: Report, params: Params) -> None:
    print(
        f"\n[1] cold start over stdio: spawn -> initialize and -> tools/list ({params.cold_runs} runs each)", flush=True
    )
    env = server_env("http://127.0.0.1:9")
    servers = [DODO, LEAN, BARE]
    times: dict[str, dict[str, list[float]]] = {name: {"initialize": [], "tools/list": []} for name, _ in servers}
    for run in range(params.cold_runs):
        order = servers if run % 2 == 0 else servers[::-1]
        for name, argv in order:
            with RawClient(argv, env) as client:
                client.initialize()
                times[name]["initialize"].append(time.perf_counter() - client.spawned_at)
                client.request("tools/list")
                times[name]["tools/list"].append(time.perf_counter() - client.spawned_at)
    summaries = {name: {step: summary_ms(values) for step, values in steps.items()} for name, steps in times.items()}
    report.data["cold_start"] = summaries
    for step in ("initialize", "tools/list"):
        bare = summaries[BARE[0]][step]["p50_ms"]
        report.add("cold start", f"bare MCPServer -> {step}", spread_minmax(summaries[BARE[0]][step]))
        for name in (DODO[0], LEAN[0]):
            ratio = summaries[name][step]["p50_ms"] / bare
            report.add(
                "cold start",
                f"{name} -> {step}",
                f"{spread_minmax(summaries[name][step])}; {ratio:.2f}x bare",
                "<= 1.15x bare",
                ratio <= 1.15,
            )

    # What the start spends importing, and whose modules those are (bench/import_breakdown.py).
    runs = max(1, min(3, params.cold_runs))
    for name, argv in (DODO, BARE):
        python_argv = [PYTHON, "-m", "dodo_mcp"] if name == DODO[0] else argv
        imported = import_breakdown.medians(python_argv, env, runs)
        report.data.setdefault("import_ms", {})[name] = imported
        report.add("cold start", f"{name}: import self time until initialize", import_breakdown.describe(imported))


def spread_minmax(summary: dict[str, float]) -> str:
    return f"p50 {summary['p50_ms']:.0f} ms (min {summary['min_ms']:.0f}, max {summary['max_ms']:.0f})"


# 2. Per-call overhead.


def seed(url: str, count: int, prefix: str) -> list[str]:
    ids = [f"{prefix}_{n:05d}" for n in range(count)]
    events = [
        {
            "event_id": event_id,
            "customer_id": f"cus_{n % 7}",
            "event_name": "api_request",
            "metadata": {"tokens_used": 100 + n, "model": "small", "region": "eu-west-1", "cached": n % 2 == 0},
        }
        for n, event_id in enumerate(ids)
    ]
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    for start in range(0, count, 1000):
        response = httpx2.post(
            f"{url}/events/ingest", json={"events": events[start : start + 1000]}, headers=headers, timeout=60
        )
        response.raise_for_status()
    return ids


def per_call(report: Report, params: Params, sandbox: Sandbox, ids: list[str]) -> None:
    samples = params.call_rounds * params.call_block
    print(f"\n[2] per-call overhead over stdio against the sandbox on 127.0.0.1 ({samples} calls per cell)", flush=True)
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = server_env(sandbox.url)
    tools: dict[str, Callable[[int], tuple[str, dict[str, Any], str, dict[str, Any]]]] = {
        "list_events": lambda n: ("list_events", {"page_size": 10}, "/events", {"page_size": 10, "page_number": 0}),
        "retrieve_event": lambda n: (
            "retrieve_event",
            {"event_id": ids[n % len(ids)]},
            f"/events/{ids[n % len(ids)]}",
            {},
        ),
    }
    raw_servers = [DODO, LEAN, FORWARDER]
    sdk_servers = [DODO, FORWARDER]
    cells: dict[str, dict[str, list[float]]] = {}

    def record(config: str, tool: str, seconds: float) -> None:
        cells.setdefault(config, {}).setdefault(tool, []).append(seconds)

    async def main() -> None:
        headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Accept": "application/json"}
        raws = [(name, RawClient(argv, env)) for name, argv in raw_servers]
        try:
            for _, raw in raws:
                raw.initialize()
            async with (
                httpx2.AsyncClient(base_url=sandbox.url, headers=headers) as http,
                Client(
                    StdioServerParameters(command=sdk_servers[0][1][0], args=sdk_servers[0][1][1:], env=env)
                ) as sdk_dodo,
                Client(
                    StdioServerParameters(command=sdk_servers[1][1][0], args=sdk_servers[1][1][1:], env=env)
                ) as sdk_bare,
            ):
                sdks = [(f"{DODO[0]}, SDK client", sdk_dodo), (f"{FORWARDER[0]}, SDK client", sdk_bare)]
                counter = 0
                for round_number in range(params.call_rounds + 1):
                    warmup = round_number == 0
                    for tool_name, shape in tools.items():
                        # Direct HTTP from this process, keep-alive.
                        for _ in range(params.call_block):
                            counter += 1
                            _, _, path, query = shape(counter)
                            began = time.perf_counter()
                            response = await http.get(path, params=query)
                            elapsed = time.perf_counter() - began
                            response.raise_for_status()
                            if not warmup:
                                record("HTTP direct (httpx2 keep-alive)", tool_name, elapsed)
                        for name, raw in raws:
                            for _ in range(params.call_block):
                                counter += 1
                                tool, arguments, _, _ = shape(counter)
                                request_id, line = raw.call_tool_line(tool, arguments)
                                began = time.perf_counter()
                                raw.send_line(line)
                                answer = raw.wait_for(request_id)
                                elapsed = time.perf_counter() - began
                                if answer["result"].get("isError"):
                                    raise BenchError(f"{name} {tool}: {answer['result']}")
                                if not warmup:
                                    record(f"{name}, raw client", tool_name, elapsed)
                        for name, sdk in sdks:
                            for _ in range(params.call_block):
                                counter += 1
                                tool, arguments, _, _ = shape(counter)
                                began = time.perf_counter()
                                result = await sdk.call_tool(tool, arguments)
                                elapsed = time.perf_counter() - began
                                if result.is_error:
                                    raise BenchError(f"{name} {tool}: {result}")
                                if not warmup:
                                    record(name, tool_name, elapsed)
        finally:
            for _, raw in raws:
                raw.close()

    anyio.run(main)
    summaries = {
        config: {tool: summary_ms(values) for tool, values in by_tool.items()} for config, by_tool in cells.items()
    }
    report.data["per_call"] = {"samples_per_cell": samples, "cells": summaries}
    direct = summaries["HTTP direct (httpx2 keep-alive)"]
    for tool in tools:
        report.add("per call", f"{tool}: HTTP direct", spread(direct[tool]))
        for config, by_tool in summaries.items():
            if config.startswith("HTTP direct"):
                continue
            added50 = by_tool[tool]["p50_ms"] - direct[tool]["p50_ms"]
            added99 = by_tool[tool]["p99_ms"] - direct[tool]["p99_ms"]
            value = f"{spread(by_tool[tool])}; added p50 {added50:+.2f} ms, p99 {added99:+.2f} ms"
            if config.startswith("dodo-mcp"):
                client = "raw client" if "raw" in config else "SDK client"
                bare = summaries[
                    f"{FORWARDER[0]}, {client}" if client == "raw client" else f"{FORWARDER[0]}, SDK client"
                ]
                vs_bare = by_tool[tool]["p50_ms"] - bare[tool]["p50_ms"]
                report.add(
                    "per call",
                    f"{tool}: {config}",
                    value + f"; vs bare forwarder p50 {vs_bare:+.2f} ms",
                    "vs bare <= +0.5 ms p50; stretch added <= 1.0 ms p50, <= 3 ms p99",
                    vs_bare <= 0.5,
                )
            else:
                report.add("per call", f"{tool}: {config}", value)


# 3. Ingest.


def ingest(report: Report, params: Params, sandbox: Sandbox) -> None:
    n, size = params.ingest_calls, params.ingest_size
    print(f"\n[3] ingest: {n} calls of {size} events, ingest_events vs raw POST /events/ingest", flush=True)
    print("    (servers run with DODO_MCP_INGEST_BATCH_SIZE=1000 so each call is one request of the same batch)")
    env = server_env(sandbox.url, DODO_MCP_INGEST_BATCH_SIZE="1000")
    counter = 0

    def batch(tag: str) -> list[dict[str, Any]]:
        nonlocal counter
        counter += 1
        return [
            {
                "event_id": f"ing_{tag}_{counter:03d}_{k:04d}",
                "customer_id": f"cus_{k % 13}",
                "event_name": "api_request",
                "metadata": {"tokens_used": k, "model": "small", "region": "eu-west-1", "cached": k % 2 == 0},
            }
            for k in range(size)
        ]

    times: dict[str, list[float]] = {"raw POST": [], DODO[0]: [], LEAN[0]: []}
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/json"}

    async def main() -> None:
        servers = [(DODO[0], RawClient(DODO[1], env)), (LEAN[0], RawClient(LEAN[1], env))]
        try:
            for _, raw in servers:
                raw.initialize()
            async with httpx2.AsyncClient(base_url=sandbox.url, headers=headers, timeout=60) as http:
                for call in range(n + 1):  # call 0 warms up
                    body = json.dumps({"events": batch("raw")}, separators=(",", ":")).encode()
                    began = time.perf_counter()
                    response = await http.post("/events/ingest", content=body)
                    elapsed = time.perf_counter() - began
                    response.raise_for_status()
                    assert response.json()["ingested_count"] == size
                    if call:
                        times["raw POST"].append(elapsed)
                    for name, raw in servers:
                        request_id, line = raw.call_tool_line("ingest_events", {"events": batch(name[:4])})
                        began = time.perf_counter()
                        raw.send_line(line)
                        answer = raw.wait_for(request_id)
                        elapsed = time.perf_counter() - began
                        result = answer["result"]
                        if result.get("isError") or result["structuredContent"]["ingested_count"] != size:
                            raise BenchError(f"{name} ingest_events: {str(result)[:500]}")
                        if call:
                            times[name].append(elapsed)
        finally:
            for _, raw in servers:
                raw.close()

    anyio.run(main)
    summaries = {name: summary_ms(values) for name, values in times.items()}
    report.data["ingest"] = {"calls": n, "events_per_call": size, "batch_size_env": 1000, "times": summaries}
    raw50 = summaries["raw POST"]["p50_ms"]
    report.add("ingest", f"raw POST of {size} events", f"{spread(summaries['raw POST'])} ({n} calls)")
    for name in (DODO[0], LEAN[0]):
        ratio = summaries[name]["p50_ms"] / raw50
        report.add(
            "ingest",
            f"{name} ingest_events of {size}",
            f"{spread(summaries[name])}; {ratio:.2f}x raw",
            "<= 1.5x raw",
            ratio <= 1.5,
        )


# 4. Memory.


def memory(report: Report, params: Params, sandbox: Sandbox, ids: list[str]) -> None:
    calls = params.memory_calls
    print(
        f"\n[4] memory: RSS idle and after {calls:,} calls (3 retrieve_event : 1 list_events, raw client)", flush=True
    )
    env = server_env(sandbox.url)
    window = 8  # requests in flight at once, to keep the run short
    figures: dict[str, dict[str, float]] = {}
    for name, argv in (DODO,):
        with RawClient(argv, env) as raw:
            raw.initialize()
            time.sleep(0.3)
            idle = rss_kib(raw.pid)
            checkpoints: dict[str, float] = {"idle_kib": idle}
            sent = 0
            began = time.monotonic()
            while sent < calls and time.monotonic() - began < 120:
                pending = set()
                for _ in range(min(window, calls - sent)):
                    if sent % 4 == 3:
                        request_id, line = raw.call_tool_line("list_events", {"page_size": 10})
                    else:
                        request_id, line = raw.call_tool_line("retrieve_event", {"event_id": ids[sent % len(ids)]})
                    raw.send_line(line)
                    pending.add(request_id)
                    sent += 1
                for _ in range(10 * window):
                    if not pending:
                        break
                    answer = json.loads(raw.read_line())
                    pending.discard(answer.get("id"))
                if sent == 1000:
                    checkpoints["after_1000_kib"] = rss_kib(raw.pid)
            checkpoints["calls"] = sent
            checkpoints[f"after_{sent}_kib"] = rss_kib(raw.pid)
            checkpoints["seconds"] = round(time.monotonic() - began, 1)
            figures[name] = checkpoints
        last = checkpoints[f"after_{sent}_kib"]
        growth = (last / idle - 1) * 100
        report.add("memory", f"{name}: idle RSS (after initialize)", f"{idle / 1024:.1f} MiB")
        warm = checkpoints.get("after_1000_kib")
        warm_text = (
            f"; after 1,000: {warm / 1024:.1f} MiB, 1,000 -> {sent:,}: {(last / warm - 1) * 100:+.1f}%" if warm else ""
        )
        report.add(
            "memory",
            f"{name}: RSS after {sent:,} calls",
            f"{last / 1024:.1f} MiB, {growth:+.1f}% vs idle{warm_text} ({checkpoints['seconds']} s)",
            "<= 5% growth",
            growth <= 5,
        )
    report.data["memory"] = figures


# 5. Context cost.


def token_counter() -> tuple[str, Callable[[str], int]]:
    """cl100k_base, counted offline by js-tiktoken; a missing tokenizer stops the run with how to install it."""
    if not tokens.available():
        raise SystemExit(f"bench: {tokens.INSTALL}; no token can be counted without it")
    return "cl100k_base (js-tiktoken)", tokens.cl100k


def context_cost(report: Report, sandbox: Sandbox) -> None:
    print("\n[5] context cost: what the model reads", flush=True)
    name, count = token_counter()

    def cost(text: str) -> dict[str, Any]:
        data = text.encode()
        return {"bytes": len(data), "chars_div_4": math.ceil(len(text) / 4), "cl100k": count(text)}

    def show(entry: dict[str, Any], per: int = 1) -> str:
        cl = f", {entry['cl100k'] / per:.0f} cl100k tokens" if entry["cl100k"] is not None else ""
        return f"{entry['bytes'] / per:,.0f} bytes, ~{entry['chars_div_4'] / per:,.0f} tokens (chars/4){cl}"

    # One question answered two ways: summarize_events once, or every page of list_events.
    question = {"customer_id": "cus_3", "event_name": "api_request"}
    summary_arguments = {
        **question,
        "group_by": ["metadata.model"],
        "aggregation": {"type": "sum", "key": "tokens_used"},
        "max_events": 5000,
    }
    with RawClient(DODO[1], server_env(sandbox.url)) as raw:
        raw.initialize()
        tools_list = raw.request("tools/list")["result"]
        page = raw.request("tools/call", {"name": "list_events", "arguments": {"page_size": 10}})["result"]
        summary = raw.request("tools/call", {"name": "summarize_events", "arguments": summary_arguments})["result"]
        pages: list[dict[str, Any]] = []
        next_page: int | None = 0
        while next_page is not None:
            arguments = {**question, "page_size": 100, "page_number": next_page}
            pages.append(raw.request("tools/call", {"name": "list_events", "arguments": arguments})["result"])
            next_page = pages[-1]["structuredContent"]["next_page_number"]
    official = httpx2.get(
        f"{sandbox.url}/events", params={"page_size": 10}, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}
    ).json()
    events = len(official["items"])
    assert events == len(page["structuredContent"]["items"]) == 10, events
    tools_cost = cost(json.dumps(tools_list, separators=(",", ":")))
    text_cost = cost(page["content"][0]["text"])
    structured_cost = cost(json.dumps(page["structuredContent"], separators=(",", ":")))
    pretty_cost = cost(json.dumps(official, indent=2))
    listed = [item for p in pages for item in p["structuredContent"]["items"]]
    by_model: dict[str, int] = {}
    for item in listed:
        by_model[item["metadata"]["model"]] = (
            by_model.get(item["metadata"]["model"], 0) + item["metadata"]["tokens_used"]
        )
    groups = summary["structuredContent"]["groups"]
    assert summary["structuredContent"]["complete"], summary["structuredContent"]
    assert {g["key"]["metadata.model"]: g["value"] for g in groups} == by_model, (groups, by_model)
    summary_cost = cost(summary["content"][0]["text"])
    paged_cost = [cost(p["content"][0]["text"]) for p in pages]
    paged_total = {k: sum(c[k] for c in paged_cost) if paged_cost[0][k] is not None else None for k in paged_cost[0]}
    report.data["context_cost"] = {
        "tokenizer": name,
        "tools_list": tools_cost,
        "summary_vs_paging": {
            "events": len(listed),
            "summarize_events": summary_cost,
            "list_events_pages": len(pages),
            "list_events_total": paged_total,
        },
        "list_events_10": {"text": text_cost, "structured": structured_cost, "official_pretty_indent2": pretty_cost},
    }
    tools_count = len(tools_list["tools"])
    report.add(
        "context",
        f"tools/list result ({tools_count} tools)",
        show(tools_cost),
        f"< {tokens.CONTEXT_BUDGET_TOKENS:,} cl100k tokens",
        tools_cost["cl100k"] < tokens.CONTEXT_BUDGET_TOKENS,
    )
    per_tool = tokens.cl100k_counts([json.dumps(tool, separators=(",", ":")) for tool in tools_list["tools"]])
    for tool, tool_tokens in zip(tools_list["tools"], per_tool, strict=True):
        report.add("context", f"tools/list: {tool['name']}", f"{tool_tokens:,} cl100k tokens")
    report.data["context_cost"]["tools_list_per_tool"] = {
        tool["name"]: count for tool, count in zip(tools_list["tools"], per_tool, strict=True)
    }
    report.add("context", "official tools' pretty JSON (indent=2), per event", show(pretty_cost, events))
    key = "cl100k" if pretty_cost["cl100k"] is not None else "chars_div_4"
    # The target is for the text the model reads; structuredContent is reported beside it, untargeted
    # (it is the full schema-shaped data that applications consume).
    ratio = text_cost[key] / pretty_cost[key]
    report.add(
        "context",
        "list_events text content, per event",
        f"{show(text_cost, events)}; {ratio:.2f}x pretty JSON ({key})",
        "<= 0.6x pretty JSON",
        ratio <= 0.6,
    )
    ratio = structured_cost[key] / pretty_cost[key]
    report.add(
        "context",
        "list_events structuredContent, per event",
        f"{show(structured_cost, events)}; {ratio:.2f}x pretty JSON ({key})",
    )
    question_text = f"sum of tokens_used by model, {len(listed)} events of one customer"
    report.add("context", f"summarize_events text ({question_text})", show(summary_cost))
    report.add(
        "context",
        f"list_events text, all {len(pages)} pages of 100 (same answer)",
        f"{show(paged_total)}; summarize_events uses {summary_cost[key] / paged_total[key]:.4f}x ({key})",
    )


# 6. Streamable HTTP (finished once `dodo-mcp --transport streamable-http` exists).


def streamable_http(report: Report, params: Params, sandbox: Sandbox) -> None:
    print("\n[6] streamable HTTP: 8 and 50 concurrent clients, stateful and stateless", flush=True)
    from bench import http_load

    results = http_load.run(sandbox.url, quick=params.http_quick)
    report.data["streamable_http"] = results
    by_key = {(r["server"], r["mode"], r["clients"]): r for r in results}
    for mode in ("stateful", "stateless"):
        for clients in (8, 50):
            ours, bare = by_key[("dodo-mcp", mode, clients)], by_key[("bare MCPServer", mode, clients)]
            ratio = ours["calls_per_s"] / bare["calls_per_s"]
            report.add(
                "streamable HTTP",
                f"list_events, {mode}, {clients} clients",
                f"dodo-mcp {ours['calls_per_s']:.0f} calls/s, p50 {ours['p50_ms']:.1f} / p99 {ours['p99_ms']:.1f} ms; "
                f"bare {bare['calls_per_s']:.0f} calls/s, p99 {bare['p99_ms']:.1f} ms; {ratio:.2f}x bare throughput",
            )


# 7. The sandbox's own benchmark.


def sandbox_figures(report: Report, params: Params) -> None:
    script = BENCH / "sandbox_bench.py"
    print(f"\n[7] sandbox: bench/sandbox_bench.py --events {params.sandbox_events}", flush=True)
    if not script.exists():
        report.add("sandbox", "bench/sandbox_bench.py", "not there yet")
        return
    with tempfile.TemporaryDirectory() as tmp:
        argv = [PYTHON, str(script), "--events", str(params.sandbox_events), "--samples", str(params.sandbox_samples)]
        try:
            done = subprocess.run([*argv, "--results", tmp], capture_output=True, text=True, timeout=90, cwd=ROOT)
        except subprocess.TimeoutExpired:
            # Seen while it passes --log-level WARNING to `sandbox serve`, which then never prints the
            # "listening on" line that sandbox_bench.py waits for.
            report.add("sandbox", "bench/sandbox_bench.py", "timed out after 90 s (did its sandbox start?)")
            return
        outputs = sorted(Path(tmp).glob("*.json"))
        if done.returncode != 0 or not outputs:
            report.add("sandbox", "bench/sandbox_bench.py", f"failed (exit {done.returncode}): {done.stderr[-300:]}")
            return
        figures = json.loads(outputs[-1].read_text(encoding="utf-8"))
    report.data["sandbox_bench"] = figures
    ingest_figures = figures.get("ingest", {})
    if "events_per_second" in ingest_figures:
        rate = ingest_figures["events_per_second"]
        report.add(
            "sandbox",
            f"ingest ({figures.get('events')} events, batches of {figures.get('batch')}, {figures.get('clients')} clients)",
            f"{rate:,} events/s",
            ">= 50,000 events/s",
            rate >= 50_000,
        )
    for case, row in figures.get("list_events_page_size_100", {}).items():
        report.add(
            "sandbox",
            f"GET /events page_size 100, {case}",
            f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms",
            "p50 <= 5 ms",
            row["p50_ms"] <= 5,
        )


# 8. Side by side with the official Node server (only with --node-peer).

SIDE_BY_SIDE = "vs Node"


def node_peer_figures(report: Report, node_peer: Path, params: side_by_side.Params) -> None:
    print(
        f"\n[8] side by side: dodo-mcp, the Node server ({node_peer}) and the bare forwarder, "
        f"{params.rounds} interleaved rounds against the constant-cost backend",
        flush=True,
    )
    data = side_by_side.run(node_peer, params)
    report.data["side_by_side"] = data
    table = side_by_side.markdown(data)
    report.markdown.extend(table)
    print("\n".join(table[2:]), flush=True)
    for line in side_by_side.lines(data):
        report.rows.append(
            Row(
                SIDE_BY_SIDE,
                line.figure,
                f"dodo-mcp {line.cells[side_by_side.DODO]}; Node {line.cells[side_by_side.NODE]}; "
                f"bare {line.cells[side_by_side.BARE]}; ÷ Node {line.versus_node}; ÷ bare {line.versus_bare}",
                line.target,
                line.met,
            )
        )


# Output.


def markdown(report: Report, facts: dict[str, Any], params: Params, seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python bench/run.py` (do not edit by hand; rerun it). "
        f"Run took {seconds:.0f} s on {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, "
        f"commit {facts['commit']}, mcp {facts['mcp']}, httpx2 {facts['httpx2']}, pydantic {facts['pydantic']}; "
        f"load average (1, 5, 15 min) {facts['load_average']} at the start.",
        "",
        "Medians (p50) with p99 or min/max over the stated samples; every ratio compares figures from the same run. "
        "The machine is shared and noisy: treat differences under about 10% as noise.",
        "",
        f"Samples: cold start {params.cold_runs} spawns per server; per-call {params.call_rounds * params.call_block} "
        f"calls per cell, interleaved in blocks of {params.call_block}; ingest {params.ingest_calls} calls of "
        f"{params.ingest_size} events (servers run with DODO_MCP_INGEST_BATCH_SIZE=1000, so every call is exactly "
        f"one POST of the same batch as the raw request); memory {params.memory_calls:,} calls.",
        "",
        "Per-call, ingest and memory figures run against `dodo-mcp sandbox serve` on 127.0.0.1 (seeded with 2,000 "
        'events); "HTTP direct" is the same GET sent from the bench process with a keep-alive httpx2.AsyncClient. '
        '"bare forwarder" is `bench/bare_forwarder.py`, an MCPServer whose tools forward the same GET with httpx2.',
        "",
        '"dodo-mcp" runs on its own lean stdio transport (`dodo_mcp/stdio.py`); "dodo-mcp, SDK stdio" is the same '
        "server on the SDK's threaded stdio transport (`bench/sdk_stdio_dodo.py`), for comparison.",
        "",
        "| section | metric | result | target | met |",
        "|---|---|---|---|---|",
    ]
    for row in report.rows:
        if row.section == SIDE_BY_SIDE:
            continue  # in its own table, below
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.section} | {row.metric} | {row.value} | {row.target} | {met} |")
    lines.append("")
    if report.markdown:
        lines.extend(report.markdown)
    return "\n".join(lines)


README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def update_readme(report: Report, facts: dict[str, Any]) -> None:
    """Rewrite the results table between the README's benchmark markers."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return
    rows = ["| section | metric | result | target | met |", "|---|---|---|---|---|"]
    for row in report.rows:
        if row.target:
            met = "" if row.met is None else ("yes" if row.met else "**no**")
            rows.append(f"| {row.section} | {row.metric} | {row.value} | {row.target} | {met} |")
    table = "\n".join(
        [
            f"Targets only, from the last full run on {facts['cpu']} ({facts['cores']} cores), commit {facts['commit']}:",
            "",
            *rows,
        ]
    )
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}", encoding="utf-8")


def print_table(report: Report) -> None:
    width = max(len(row.metric) for row in report.rows)
    print("\n" + "=" * 100)
    for row in report.rows:
        met = "" if row.met is None else ("  met" if row.met else "  NOT MET")
        target = f"  [target {row.target}]" if row.target else ""
        print(f"{row.section:16} {row.metric:{width}}  {row.value}{target}{met}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few samples; does not rewrite BENCHMARKS.md")
    parser.add_argument("--only", nargs="*", type=int, help="run only these sections (1-7, and 8 with --node-peer)")
    parser.add_argument(
        "--node-peer",
        type=Path,
        metavar="PATH/dist/index.js",
        help="the official Node server, built by bench/build_node_peer.sh: adds section 8, side by side",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds of section 8 (default 3; with --quick 2)")
    args = parser.parse_args(argv)
    # Every server starts from compiled bytecode, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE
    # set, a module edited since its last .pyc would be compiled again at every spawn and counted as
    # cold start. (py_compile writes the files whatever that variable says.)
    for tree in (ROOT / "dodo_mcp", BENCH):
        compileall.compile_dir(tree, quiet=1)
    if 8 in (args.only or []) and args.node_peer is None:
        parser.error("section 8 runs the Node server: give --node-peer PATH/dist/index.js")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the SDK client logs every request at INFO
    params = Params.quick() if args.quick else Params()
    wanted = set(args.only or range(1, 9 if args.node_peer else 8))
    rounds = args.rounds or (2 if args.quick else 3)
    peer_params = side_by_side.Params.quick(rounds) if args.quick else side_by_side.Params(rounds=rounds)
    began = time.monotonic()
    facts = {**machine(), "load_average": load_average()}
    print(
        f"machine: {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, commit {facts['commit']}, "
        f"load average {facts['load_average']}"
    )
    report = Report()

    if 1 in wanted:
        cold_start(report, params)
    if wanted & {2, 3, 4, 5, 6}:
        with Sandbox() as sandbox:
            ids = seed(sandbox.url, 2000, "evt")
            if 2 in wanted:
                per_call(report, params, sandbox, ids)
            if 3 in wanted:
                ingest(report, params, sandbox)
            if 4 in wanted:
                memory(report, params, sandbox, ids)
            if 5 in wanted:
                context_cost(report, sandbox)
            if 6 in wanted:
                streamable_http(report, params, sandbox)
    if 7 in wanted:
        print("\n[7] sandbox", flush=True)
        sandbox_figures(report, params)
    if 8 in wanted:
        assert args.node_peer is not None
        node_peer_figures(report, args.node_peer, peer_params)

    seconds = time.monotonic() - began
    print_table(report)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{stamp}.json"
    document = {
        "machine": facts,
        "when": stamp,
        "seconds": round(seconds, 1),
        "params": params.__dict__,
        "quick": args.quick,
        "rows": [row.__dict__ for row in report.rows],
        "data": report.data,
        "load_average_at_end": load_average(),
    }
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {out.relative_to(ROOT)}; took {seconds:.0f} s")
    if not args.quick and not args.only:
        BENCHMARKS_MD.write_text(markdown(report, facts, params, seconds), encoding="utf-8")
        update_readme(report, facts)
        print(f"regenerated {BENCHMARKS_MD.relative_to(ROOT)} and the table in README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
