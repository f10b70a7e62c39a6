"""Sandbox benchmark: ingest throughput and list_events latency over HTTP on loopback.

Starts `dodo-mcp sandbox serve --port 0` in a subprocess (its own process, so the client's work
does not share its GIL), ingests --events events in batches of 1000 from --clients threads, then
times GET /events for each filter with that many events stored. Results print to stdout and are
written as JSON to bench/results/ (gitignored).

    .venv/bin/python bench/sandbox_bench.py                    # 1,000,000 events
    .venv/bin/python bench/sandbox_bench.py --events 50000     # a quick run

Targets: ingest >= 50,000 events/s; list_events p50 <= 5 ms at the HTTP layer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2

KEY = "sk_sandbox_local"
CUSTOMERS = 1000
EVENT_NAMES = [f"event_{i}" for i in range(10)]
PLANS = ["free", "pro", "premium", "enterprise"]


def start_server(db: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "dodo_mcp", "sandbox", "serve", "--port", "0", "--db", str(db)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if found:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, found.group(1)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def batch_body(start: int, size: int, now: datetime, rng: random.Random) -> bytes:
    events = []
    for n in range(start, start + size):
        metadata: dict[str, Any] = {"plan": rng.choice(PLANS), "tokens": str(rng.randrange(1000)), "ok": n % 3 != 0}
        events.append(
            {
                "event_id": f"evt_{n:08d}",
                "customer_id": f"cus_{n % CUSTOMERS:04d}",
                "event_name": EVENT_NAMES[n % len(EVENT_NAMES)],
                # Spread over the last 55 minutes: inside Dodo's one-hour window for the whole run.
                "timestamp": (now - timedelta(seconds=rng.uniform(0, 3300))).isoformat().replace("+00:00", "Z"),
                "metadata": metadata,
            }
        )
    return json.dumps({"events": events}, separators=(",", ":")).encode()


def ingest(url: str, total: int, batch: int, clients: int) -> dict[str, float]:
    now = datetime.now(timezone.utc)
    starts = list(range(0, total, batch))
    local = threading.local()

    def send(start: int) -> int:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
            local.rng = random.Random(start)
        body = batch_body(start, min(batch, total - start), now, local.rng)
        response = local.client.post("/events/ingest", content=body, headers={"Content-Type": "application/json"})
        response.raise_for_status()
        return int(response.json()["ingested_count"])

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ingested = sum(pool.map(send, starts))
    elapsed = time.perf_counter() - began
    assert ingested == total, (ingested, total)
    return {"events": total, "seconds": round(elapsed, 3), "events_per_second": round(total / elapsed)}


def latency(client: httpx2.Client, params: Callable[[random.Random], dict[str, Any]], samples: int) -> dict[str, Any]:
    rng = random.Random(7)
    for _ in range(10):  # warm-up
        client.get("/events", params=params(rng)).raise_for_status()
    times, sizes = [], []
    for _ in range(samples):
        query = params(rng)
        began = time.perf_counter()
        response = client.get("/events", params=query)
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
        sizes.append(len(response.json()["items"]))
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
        "mean_items": round(statistics.mean(sizes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent ingest connections")
    parser.add_argument("--samples", type=int, default=300, help="requests per list_events case")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    # The machine is shared: record how busy it was, since every figure below depends on it.
    load_before = os.getloadavg()
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        process, url = start_server(db)
        try:
            print(f"ingesting {args.events:,} events in batches of {args.batch} over {url} ...", flush=True)
            ingest_result = ingest(url, args.events, args.batch, args.clients)
            print(f"ingest: {ingest_result['events_per_second']:,} events/s ({ingest_result['seconds']} s)")

            headers = {"Authorization": f"Bearer {KEY}"}
            with httpx2.Client(base_url=url, headers=headers, timeout=60) as client:
                meter = {
                    "name": "premium tokens",
                    "event_name": "event_3",
                    "measurement_unit": "tokens",
                    "aggregation": {"type": "sum", "key": "tokens"},
                    "filter": {
                        "conjunction": "and",
                        "clauses": [
                            {"key": "plan", "operator": "equals", "value": "premium"},
                            {"key": "tokens", "operator": "greater_than", "value": 100},
                        ],
                    },
                }
                meter_id = client.post("/meters", json=meter).json()["id"]
                now = datetime.now(timezone.utc)

                def rfc3339(moment: datetime) -> str:
                    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

                def window(rng: random.Random, minutes: int = 10) -> dict[str, str]:
                    start = now - timedelta(minutes=rng.uniform(minutes, 55))
                    return {"start": rfc3339(start), "end": rfc3339(start + timedelta(minutes=minutes))}

                cases: dict[str, Callable[[random.Random], dict[str, Any]]] = {
                    "no filter": lambda rng: {"page_size": 100},
                    "customer_id": lambda rng: {"customer_id": f"cus_{rng.randrange(CUSTOMERS):04d}", "page_size": 100},
                    "event_name": lambda rng: {"event_name": rng.choice(EVENT_NAMES), "page_size": 100},
                    "start+end": lambda rng: {**window(rng), "page_size": 100},
                    "customer_id+start+end": lambda rng: {
                        "customer_id": f"cus_{rng.randrange(CUSTOMERS):04d}",
                        **window(rng, 30),
                        "page_size": 100,
                    },
                    "meter_id": lambda rng: {"meter_id": meter_id, "page_size": 100},
                    "page 50 (no filter)": lambda rng: {"page_size": 100, "page_number": 50},
                }
                latencies = {}
                for name, params in cases.items():
                    latencies[name] = latency(client, params, args.samples)
                    row = latencies[name]
                    print(f"list_events {name:24} p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms")
        finally:
            process.terminate()
            process.wait(10)

    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"sandbox-{stamp}.json"
    result = {"events": args.events, "batch": args.batch, "clients": args.clients, "ingest": ingest_result}
    result["list_events_page_size_100"] = latencies
    load_after = os.getloadavg()
    result["load_average"] = {"before": list(load_before), "after": list(load_after), "cpus": os.cpu_count()}
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
