"""Micro-benchmark: validating 1,000 events, before and after a change to the validation path.

"before" is dodo_mcp/models.py as it was at a git revision (default: the last one before the fast
path; 0664e06 is the last one with the old fast path, before the API layer moved to dodo_mcp/api/),
loaded from `git show` as a separate module; "after" is the working tree's. Both validate the same
1,000 events (ids, a timestamp inside Dodo's window and 3 metadata keys each) the two ways the
project does: the ingest_events tool's arguments from Python objects, and the sandbox's request
body from JSON bytes. Runs alternate between before and after so that load on the machine hits
both alike; the figures are the median and the minimum of --runs runs, in milliseconds.

Then, in the working tree alone: a whole tools/call line of those events read and validated the
general way (jsonrpc.read_message, then the arguments' model) against the one pass (tools.one_pass),
and Dodo's body written by pydantic-core's to_json against api.client.ingest_body (orjson).

    .venv/bin/python bench/validation_bench.py
    .venv/bin/python bench/validation_bench.py --runs 200 --before-rev 0664e06
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic_core import to_json  # noqa: E402

from dodo_mcp.api.client import ingest_body  # noqa: E402
from dodo_mcp.api.models import parse_ingest_request  # noqa: E402
from dodo_mcp.jsonrpc import read_message  # noqa: E402
from dodo_mcp.tools.arguments import validate_arguments  # noqa: E402
from dodo_mcp.tools.models import IngestEventsArguments  # noqa: E402
from dodo_mcp.tools.one_pass import read_ingest_call  # noqa: E402

# The last commit whose models.py validated every event with Python validators.
DEFAULT_BEFORE_REV = "7c0b7c8"


def load_before(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:dodo_mcp/models.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader("models_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["models_before"] = module  # pydantic resolves the models' annotations through it
    exec(compile(source, f"{rev}:dodo_mcp/models.py", "exec"), module.__dict__)
    return module


def make_events(now: datetime, count: int = 1000) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"evt_{n:08d}",
            "customer_id": f"cus_{n % 1000:04d}",
            "event_name": f"event_{n % 10}",
            "timestamp": (now - timedelta(seconds=n * 3.3)).isoformat().replace("+00:00", "Z"),
            "metadata": {"plan": ("free", "pro", "premium")[n % 3], "tokens": n % 977, "ok": n % 2 == 0},
        }
        for n in range(count)
    ]


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--before-rev", default=DEFAULT_BEFORE_REV)
    args = parser.parse_args()

    before = load_before(args.before_rev)
    now = datetime.now(timezone.utc)
    events = make_events(now)
    body = json.dumps({"events": events}, separators=(",", ":")).encode()
    context = {"now": now}
    tool = "IngestEventsArguments.model_validate (tool)"
    upstream = "the tool's arguments to Dodo's body (tool + to_json)"
    sandbox = "the ingest body from JSON (sandbox)"

    def tool_before() -> object:
        return before.IngestEventsArguments.model_validate({"events": events}, context=context)

    def tool_after() -> object:
        return IngestEventsArguments.model_validate({"events": events}, context=context)

    cases: dict[str, Callable[[], object]] = {
        f"{tool} [before]": tool_before,
        f"{tool} [after]": tool_after,
        # What DodoClient.ingest_events sends: the validated events serialised (nulls left out).
        f"{upstream} [before]": lambda: to_json({"events": tool_before().events}, exclude_none=True),  # type: ignore[attr-defined]
        f"{upstream} [after]": lambda: to_json(
            {"events": IngestEventsArguments.model_validate({"events": events}, context=context).events},
            exclude_none=True,
        ),
        f"{sandbox} [before]": lambda: before.IngestEventsRequest.model_validate_json(body, context=context),
        f"{sandbox} [after]": lambda: parse_ingest_request(body, now),
    }
    # Both validate the same events to the same values (the records the models stand for).
    assert parse_ingest_request(body, now).events == [
        e.model_dump(exclude_none=True)
        for e in before.IngestEventsRequest.model_validate_json(body, context=context).events
    ]

    line = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "ingest_events", "arguments": {"events": events}},
        },
        separators=(",", ":"),
    ).encode()

    def validated(one_pass: Any) -> Any:
        message = read_message(line, one_pass=one_pass)
        arguments = message.params["arguments"]  # type: ignore[union-attr, index]
        return validate_arguments(IngestEventsArguments, arguments, tool="ingest_events", now=now).events

    records = validated(None)
    assert validated(read_ingest_call) == records and ingest_body(records) == to_json({"events": records})
    reading = "a tools/call line to records"
    writing = "the records to Dodo's body"
    cases.update(
        {
            f"{reading} [general]": lambda: validated(None),
            f"{reading} [one pass]": lambda: validated(read_ingest_call),
            f"{writing} [to_json]": lambda: to_json({"events": records}),
            f"{writing} [ingest_body]": lambda: ingest_body(records),
        }
    )

    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up
        fn()
    gc.collect()
    for _ in range(args.runs):
        for name, fn in cases.items():
            samples[name].append(timed(fn))

    print(f"validating 1,000 events (3 metadata keys, timestamps given), {args.runs} runs; before = {args.before_rev}")
    for kind in (tool, upstream, sandbox):
        old, new = samples[f"{kind} [before]"], samples[f"{kind} [after]"]
        print(
            f"{kind:50} before median {statistics.median(old):6.2f} ms (min {min(old):6.2f})"
            f"  after median {statistics.median(new):6.2f} ms (min {min(new):6.2f})"
            f"  speed-up {statistics.median(old) / statistics.median(new):4.1f}x"
        )
    for kind, old_name, new_name in ((reading, "general", "one pass"), (writing, "to_json", "ingest_body")):
        old, new = samples[f"{kind} [{old_name}]"], samples[f"{kind} [{new_name}]"]
        print(
            f"{kind:50} {old_name} median {statistics.median(old):6.2f} ms (min {min(old):6.2f})"
            f"  {new_name} median {statistics.median(new):6.2f} ms (min {min(new):6.2f})"
            f"  speed-up {statistics.median(old) / statistics.median(new):4.1f}x"
        )


if __name__ == "__main__":
    main()
