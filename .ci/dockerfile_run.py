"""Run the Dockerfile's own install and start steps without Docker, in a fresh venv.

No Docker engine runs on CI's machine, so this reads the Dockerfile and carries out
the same lines: the build stage's RUN in a copy of the checkout, the final stage's
RUN with the build's output where COPY --from puts it, then CMD with the image's ENV
(and a port of our choosing), checked with the HEALTHCHECK's own command. Any
instruction it does not know fails the run, so the Dockerfile cannot grow a step
that CI silently skips.

    python .ci/dockerfile_run.py Dockerfile
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# What each instruction means here; anything else is refused.
HANDLED = {"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "CMD"}


@dataclass
class Stage:
    name: str | None
    base: str
    workdir: str = "/"
    runs: list[str] = field(default_factory=list)
    copies: list[tuple[str | None, str, str]] = field(default_factory=list)  # (from stage, source, destination)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cmd: list[str] = field(default_factory=list)
    healthcheck: str | None = None
    stopsignal: str | None = None
    expose: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    result = []
    for entry in joined:
        keyword, _, rest = entry.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for keyword, rest in instructions(path.read_text(encoding="utf-8")):
        if keyword not in HANDLED:
            raise SystemExit(f"{path}: {keyword} is not an instruction this runner carries out; teach it first")
        if keyword == "FROM":
            parts = rest.split()
            stages.append(Stage(name=parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None, base=parts[0]))
            continue
        stage = stages[-1]
        if keyword == "WORKDIR":
            stage.workdir = rest
        elif keyword == "RUN":
            stage.runs.append(rest)
        elif keyword == "COPY":
            parts = rest.split()
            source_stage = parts.pop(0).split("=", 1)[1] if parts[0].startswith("--from=") else None
            stage.copies.append((source_stage, parts[0], parts[1]))
        elif keyword == "ENV":
            stage.env.update(pair.split("=", 1) for pair in shlex.split(rest))  # type: ignore[misc]
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "CMD":
            stage.cmd = json.loads(rest)
        elif keyword == "HEALTHCHECK":
            stage.healthcheck = rest.split(" CMD ", 1)[1]
        elif keyword == "STOPSIGNAL":
            stage.stopsignal = rest
        elif keyword == "EXPOSE":
            stage.expose.append(rest)
    return stages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(dockerfile: str) -> int:
    checkout = Path(dockerfile).resolve().parent
    build, final = parse(Path(dockerfile))
    with tempfile.TemporaryDirectory(prefix="dockerfile-run-") as scratch:
        root = Path(scratch)
        # The build stage: `COPY . .` into its WORKDIR, then its RUN lines there, with a fresh venv's python.
        src = root / build.workdir.strip("/")
        assert build.copies == [(None, ".", ".")], build.copies
        shutil.copytree(checkout, src, ignore=shutil.ignore_patterns(".git", ".venv", ".ci-venv", "node_modules"))
        build_venv = root / "build-venv"
        subprocess.run([sys.executable, "-m", "venv", str(build_venv)], check=True)
        venv_env = {**os.environ, "PATH": f"{build_venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        for command in build.runs:
            print(f"[build] RUN {command}", flush=True)
            subprocess.run(["sh", "-c", command], cwd=src, env=venv_env, check=True, stdout=subprocess.DEVNULL)

        # The final stage: COPY --from=build puts the build's files at the destination; RUN lines run
        # with those paths mapped into the scratch folder, in a second fresh venv (the image's python).
        image_venv = root / "image-venv"
        subprocess.run([sys.executable, "-m", "venv", str(image_venv)], check=True)
        mapping: dict[str, str] = {}
        for source_stage, source, destination in final.copies:
            assert source_stage == build.name, f"COPY from {source_stage!r} is not handled"
            target = root / destination.strip("/")
            shutil.copytree(root / source.strip("/"), target)
            mapping[destination.rstrip("/")] = str(target)
        image_env = {
            **os.environ,
            "PATH": f"{image_venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(root / "home"),
        }
        for command in final.runs:
            if command.startswith("useradd "):
                print(f"[image] RUN {command}  (skipped: CI already runs as its own user)", flush=True)
                continue
            for destination, target in mapping.items():
                command = command.replace(destination, target)
            print(f"[image] RUN {command}", flush=True)
            subprocess.run(["sh", "-c", command], env=image_env, check=True, stdout=subprocess.DEVNULL)

        # CMD with the image's ENV. The image listens on 8000; here any free port, on loopback only.
        port = free_port()
        env = {**image_env, **final.env, "DODO_MCP_HOST": "127.0.0.1", "DODO_MCP_PORT": str(port)}
        env["DODO_MCP_AUTH_TOKEN"] = "ci-dockerfile-token-" + "x" * 16
        print(f"[image] CMD {final.cmd} with {final.env} (host 127.0.0.1, port {port})", flush=True)
        server = subprocess.Popen(final.cmd, env=env, stdin=subprocess.DEVNULL)
        try:
            health = (final.healthcheck or "").replace("8000", str(port))
            deadline = time.monotonic() + 30
            while subprocess.run(["sh", "-c", health], env=image_env, capture_output=True).returncode != 0:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the HEALTHCHECK never passed")
                time.sleep(0.2)
            print("[image] HEALTHCHECK passed", flush=True)
            request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=b"{}", method="POST")
            try:
                urllib.request.urlopen(request, timeout=5)
                raise SystemExit("/mcp answered without a bearer token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401, exc.code
            print("[image] /mcp without a token: 401", flush=True)
        finally:
            server.send_signal(getattr(signal, final.stopsignal or "SIGTERM"))
            code = server.wait(30)
        if code != 0:
            raise SystemExit(f"the server exited {code} on {final.stopsignal}")
        print(f"[image] {final.stopsignal} -> exit 0", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "Dockerfile"))
