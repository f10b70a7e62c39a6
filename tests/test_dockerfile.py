"""The Dockerfile is what CI runs: a slim, non-root image serving Streamable HTTP with a token and a health check."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dockerfile_run", ROOT / ".ci" / "dockerfile_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_the_image_is_slim_non_root_and_secure_by_default() -> None:
    build, final = runner().parse(ROOT / "Dockerfile")
    assert build.base == final.base == "python:3.12-slim"
    assert build.runs == ["python -m pip install --no-cache-dir build && python -m build --wheel --outdir dist"]
    assert final.copies == [("build", "/src/dist/", "/wheels/")]
    assert final.runs[-1] == "python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels"
    assert final.user == "dodo"
    assert final.env["DODO_MCP_TRANSPORT"] == "streamable-http"
    assert (final.env["DODO_MCP_HOST"], final.env["DODO_MCP_PORT"]) == ("0.0.0.0", "8000")
    assert "DODO_MCP_AUTH_TOKEN" not in final.env  # a token is the operator's to give; without one it refuses to start
    assert "/healthz" in (final.healthcheck or "")
    assert final.cmd == ["dodo-mcp"]
    assert final.stopsignal == "SIGTERM"


def test_ci_runs_the_same_steps_and_the_context_is_clean() -> None:
    assert "python .ci/dockerfile_run.py Dockerfile" in (ROOT / ".ci" / "run").read_text()
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".ci-venv", "**/__pycache__", "dist", "bench/results"} <= ignored
