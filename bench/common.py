"""Shared helpers: a raw JSON-RPC stdio client, the sandbox process, statistics, machine facts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
DODO_MCP = str(Path(PYTHON).parent / "dodo-mcp")
SANDBOX_KEY = "sk_sandbox_local"
PROTOCOL_VERSION = "2025-11-25"
STEP_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    pass


def _drain(stream: IO[bytes], sink: list[bytes]) -> None:
    """Keep a child's stderr flowing (a full pipe would block it); keep the tail for error messages."""
    for line in iter(stream.readline, b""):
        sink.append(line)
        del sink[:-50]


class RawClient:
    """A minimal MCP host: one JSON-RPC line to the child's stdin, read lines from its stdout.

    Every read has a deadline (a watchdog kills the child if a step takes longer than
    STEP_TIMEOUT_S), so no loop here can hang the run.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.spawned_at = time.perf_counter()
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            bufsize=0,
            cwd=ROOT,
        )
        assert self.process.stdin is not None and self.process.stdout is not None and self.process.stderr is not None
        self._stdin = self.process.stdin
        # Buffered: readline() on the raw pipe reads one byte per system call, which costs this host
        # about 0.3 ms per kilobyte of answer and would be counted as the server's latency.
        self._stdout = io.BufferedReader(self.process.stdout, buffer_size=1 << 16)  # type: ignore[type-var]  # a FileIO
        self.stderr_tail: list[bytes] = []
        threading.Thread(target=_drain, args=(self.process.stderr, self.stderr_tail), daemon=True).start()
        self._next_id = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: Mapping[str, Any]) -> None:
        self._stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def send_line(self, line: bytes) -> None:
        self._stdin.write(line)

    def read_line(self) -> bytes:
        timer = threading.Timer(STEP_TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            line = self._stdout.readline()
        finally:
            timer.cancel()
        if not line:
            tail = b"".join(self.stderr_tail[-15:]).decode("utf-8", "replace")
            raise BenchError(f"{self.process.args!r} closed stdout (exit {self.process.poll()}):\n{tail}")
        return line

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response, skipping notifications and other ids."""
        request_id = self.next_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.wait_for(request_id)

    def wait_for(self, request_id: int) -> dict[str, Any]:
        for _ in range(100_000):
            answer: dict[str, Any] = json.loads(self.read_line())
            if answer.get("id") == request_id:
                if "error" in answer:
                    raise BenchError(f"request {request_id} failed: {answer['error']}")
                return answer
        raise BenchError("too many messages without the response")

    def initialize(self) -> dict[str, Any]:
        result = self.request("initialize", initialize_params())
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call_tool_line(self, name: str, arguments: Mapping[str, Any]) -> tuple[int, bytes]:
        request_id = self.next_id()
        message = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        return request_id, json.dumps(message, separators=(",", ":")).encode() + b"\n"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            self.process.kill()
        self.close()


def initialize_params() -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "dodo-mcp-bench", "version": "1"},
    }


class Backend:
    """A stand-in for the Dodo API in its own process on 127.0.0.1, that announces its address on stderr."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.process = subprocess.Popen([*argv], stderr=subprocess.PIPE, cwd=ROOT)
        assert self.process.stderr is not None
        started = time.monotonic()
        self.url = ""
        # The address is announced on stderr at INFO (the default level).
        while time.monotonic() - started < 30:
            line = self.process.stderr.readline()
            if not line:
                break
            found = re.search(rb"listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.url = found.group(1).decode()
                break
        if not self.url:
            self.process.kill()
            raise BenchError(f"{argv[-1]} did not report its address")
        tail: list[bytes] = []
        threading.Thread(target=_drain, args=(self.process.stderr, tail), daemon=True).start()
        self._wait_until_accepting(started)

    def _wait_until_accepting(self, started: float) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        while time.monotonic() - started < 30:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        self.process.kill()
        raise BenchError(f"{self.process.args!r} did not accept connections")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Sandbox(Backend):
    """`dodo-mcp sandbox serve --port 0`, with a throwaway database."""

    def __init__(self) -> None:
        db = Path(tempfile.mkdtemp(prefix="dodo-bench-db-")) / "bench.sqlite3"
        self._db_dir = db.parent
        super().__init__([DODO_MCP, "sandbox", "serve", "--host", "127.0.0.1", "--port", "0", "--db", str(db)])

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._db_dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self


class ConstantBackend(Backend):
    """bench/constant_backend.py: every answer prepared at start-up, TCP_NODELAY (see that module)."""

    def __init__(self) -> None:
        super().__init__([PYTHON, str(BENCH / "constant_backend.py"), "--port", "0"])

    def __enter__(self) -> ConstantBackend:
        return self


def server_env(base_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DODO_PAYMENTS_", "DODO_MCP_"))}
    env.update(
        DODO_PAYMENTS_BASE_URL=base_url,
        DODO_PAYMENTS_API_KEY=SANDBOX_KEY,
        DODO_MCP_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, its exited threads included (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
        fields = stat.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> float:
    """On-CPU time of a process's live threads, to the nanosecond (/proc/PID/task/*/schedstat).

    cpu_seconds counts in clock ticks (10 ms here), too coarse for a block of a few calls of a few
    milliseconds; this is exact, but a thread that exits takes its time with it, so use it across
    blocks in which no thread ends (dodo-mcp's stdio server has one)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as stat:
            total += int(stat.read().split()[0])
    return total / 1e9


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "dodo_mcp"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        if dirty:
            commit += " (dodo_mcp/ has uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    from importlib.metadata import version

    import mcp_types  # noqa: F401  (version lookups below)

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "mcp": version("mcp"),
        "httpx2": version("httpx2"),
        "pydantic": version("pydantic"),
    }
