"""A dodo-mcp cluster on 127.0.0.1: HAProxy (deploy/haproxy.cfg, as shipped) in front of 3 replicas, one Dodo.

Every part is a real process: `dodo-mcp sandbox serve` stands for Dodo (one SQLite database, so what
the replicas stored can be counted), each replica is `dodo-mcp --transport streamable-http` on its own
port, and HAProxy is Debian's, run in the foreground with the config from deploy/. The replicas can
be restarted one at a time the way an orchestrator does it: SIGTERM, wait for the exit, start again
on the same port, wait until HAProxy sees it ready.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from tests.conftest import API_KEY, CAPTURED, server_env

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
REPLICAS = 3
TOKEN = "mcp-token-for-the-cluster-0123456789"


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(path, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_line(process: subprocess.Popen[bytes], log: IO[str], pattern: str, what: str) -> re.Match[str]:
    deadline = time.monotonic() + 30
    while True:
        log.seek(0)
        found = re.search(pattern, log.read())
        if found:
            return found
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"{what} did not start: {log.read()[-3000:]}")
        time.sleep(0.05)


class Replica:
    """One `dodo-mcp` replica on a fixed port; each start is a new process with its own log."""

    def __init__(self, name: str, port: int, flags: tuple[str, ...], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.port = port
        self._flags = flags
        self._env = env
        self._logs = logs
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None

    def start(self) -> None:
        self.starts += 1
        self._log = open(self._logs / f"{self.name}-{self.starts}.log", "w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dodo_mcp",
                "--transport",
                "streamable-http",
                *self._flags,
                "--port",
                str(self.port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=self._env,
        )
        _wait_for_line(self.process, self._log, r"serving MCP over streamable-http", self.name)

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, then wait for the exit (the drain); the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self._log is not None:
            self._log.seek(0)
            CAPTURED.append(self._log.read())
            self._log.close()


class Cluster:
    """`with Cluster(tmp_path, stateless=True) as cluster:` then connect to `cluster.url + "/mcp"`."""

    def __init__(self, workdir: Path, *, stateless: bool, grace_s: float) -> None:
        self.workdir = workdir
        self.database = workdir / "dodo.sqlite3"
        self.stateless = stateless
        self.grace_s = grace_s
        self.stats_socket = workdir / "haproxy.sock"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.replicas: list[Replica] = []
        self._processes: list[tuple[subprocess.Popen[bytes], IO[str]]] = []

    def __enter__(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        key = ("--api-key", API_KEY)
        dodo = self._spawn(
            "dodo",
            [sys.executable, "-m", "dodo_mcp", "sandbox", "serve", "--port", "0", "--db", str(self.database), *key],
            server_env(None),
        )
        dodo_url = _wait_for_line(*dodo, r"listening on (http://127\.0\.0\.1:\d+)", "the Dodo stand-in").group(1)
        env = server_env(dodo_url, DODO_MCP_AUTH_TOKEN=TOKEN)
        flags = (*(("--stateless",) if self.stateless else ()), "--grace-period", f"{self.grace_s:g}")
        for index in range(REPLICAS):
            replica = Replica(f"dodo{index + 1}", free_port(), flags, env, self.workdir)
            self.replicas.append(replica)
            replica.start()
        haproxy = haproxy_binary()
        assert haproxy is not None
        lb_env = {
            "PATH": os.environ.get("PATH", ""),
            "DODO_MCP_LB_BIND": f"127.0.0.1:{self.port}",
            "DODO_MCP_LB_STATS_SOCKET": str(self.stats_socket),
            **{f"DODO_MCP_REPLICA_{i + 1}": f"127.0.0.1:{r.port}" for i, r in enumerate(self.replicas)},
        }
        # -db: stay in the foreground, log to stderr; -W: master-worker, as systemd runs it.
        self._spawn("haproxy", [haproxy, "-db", "-W", "-f", str(HAPROXY_CONFIG)], lb_env)
        self.wait_until_up([r.name for r in self.replicas])

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], IO[str]]:
        log = open(self.workdir / f"{name}.log", "w+", encoding="utf-8")  # noqa: SIM115
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self._processes.append((process, log))
        return process, log

    def server_states(self) -> dict[str, str]:
        """HAProxy's view of each replica (UP, DOWN, ...), from its runtime socket."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {
            row["svname"]: row["status"] for row in rows if row["pxname"] == "dodo_mcp" and row["svname"] != "BACKEND"
        }

    def wait_until_up(self, names: list[str]) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                states = self.server_states()
            except OSError:
                states = {}
            if all(states.get(name) == "UP" for name in names):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy does not see {names} up: {states}")
            time.sleep(0.05)

    def rolling_restart(self) -> list[int]:
        """Restart each replica in turn: SIGTERM, wait for its exit, start it, wait until HAProxy sees it up.

        Blocking: run it in a thread while clients call. Returns each stopped process's exit code.
        """
        codes = []
        for replica in self.replicas:
            codes.append(replica.stop(self.grace_s + 15))
            replica.start()
            self.wait_until_up([replica.name])
        return codes

    def __exit__(self, *exc_info: object) -> None:
        for replica in self.replicas:
            replica.close()
        for process, log in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            log.seek(0)
            CAPTURED.append(log.read())
            log.close()
