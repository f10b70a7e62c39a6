"""Where a server's start-up goes before it answers `initialize`: `python -X importtime`, grouped.

Each server is spawned with -X importtime, sent `initialize`, and ended once it has answered; the
self times of the modules it imported by then are summed by who owns them. The medians over the runs
are what bench/run.py's cold start section reports, so the part of the start that is the MCP SDK's
(and pydantic's, which the SDK needs) is stated next to ours.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from collections.abc import Mapping, Sequence

from bench.common import initialize_params

# Who owns a module, by the first part of its dotted name; anything else is "Python and the rest".
GROUPS: dict[str, tuple[str, ...]] = {
    "the MCP SDK": ("mcp", "mcp_types"),
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"),
    # What the SDK imports with it.
    "the SDK's dependencies": (
        "anyio",
        "sniffio",
        "httpx2",
        "httpcore2",
        "h11",
        "starlette",
        "sse_starlette",
        "uvicorn",
        "idna",
        "truststore",
        "opentelemetry",
        "jsonschema",
        "referencing",
        "rpds",
        "attrs",
        "typing_extensions",
    ),
    "dodo-mcp": ("dodo_mcp",),
    "httptools": ("httptools",),
}
OTHER = "Python and the rest"
_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")
STEP_TIMEOUT_S = 60


def owner(module: str) -> str:
    top = module.split(".")[0]
    return next((group for group, tops in GROUPS.items() if top in tops), OTHER)


def self_times_ms(importtime: str) -> dict[str, float]:
    """Self import time per group, in ms, from -X importtime's output."""
    totals = dict.fromkeys([*GROUPS, OTHER], 0.0)
    for match in _LINE.finditer(importtime):
        totals[owner(match.group(2))] += int(match.group(1)) / 1000
    return totals


def until_initialize(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, float]:
    """One spawn with -X importtime (argv[0] is the Python): the grouped self times up to the initialize answer."""
    process = subprocess.Popen(
        [argv[0], "-X", "importtime", *argv[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
    )
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize_params()}
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(request).encode() + b"\n")
    process.stdin.flush()
    process.stdout.readline()  # the answer: whatever is imported after it is not counted
    # Waiting for its next message now: nothing more is imported. Killed, it leaves stderr complete.
    process.kill()
    _, stderr = process.communicate(timeout=STEP_TIMEOUT_S)
    return self_times_ms(stderr.decode("utf-8", "replace"))


def medians(argv: Sequence[str], env: Mapping[str, str], runs: int) -> dict[str, float]:
    samples = [until_initialize(argv, env) for _ in range(runs)]
    return {group: statistics.median(sample[group] for sample in samples) for group in samples[0]}


def describe(times: Mapping[str, float]) -> str:
    total = sum(times.values())
    parts = ", ".join(f"{group} {value:.0f}" for group, value in times.items() if value >= 0.5)
    return f"{total:.0f} ms: {parts}"
