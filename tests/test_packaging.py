"""manifest.json (the MCP Bundle) kept in step with the server, its mapping onto dodo-mcp's settings,
the bundle's entry point over real stdio, and the sdist and wheel that `python -m build` makes."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from dodo_mcp import __version__
from dodo_mcp.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_ENVIRONMENT,
    ENVIRONMENT_ENV,
    READ_ONLY_ENV,
    TOOLS_ENV,
    Settings,
)
from dodo_mcp.server import SERVER_NAME, build_server
from dodo_mcp.tools.names import TOOL_NAMES
from tests.conftest import ALL_TOOLS, API_KEY, CAPTURED, server_env, text_of
from tests.mcpb_host import resolve_mcp_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENTRY_POINT = ROOT / "bundle" / "main.py"
BUNDLE: dict[str, Any] = runpy.run_path(str(ENTRY_POINT))  # not as __main__: only the definitions
bundle_argv = BUNDLE["bundle_argv"]
SANDBOX_ENV: str = BUNDLE["SANDBOX_ENV"]


@pytest.mark.anyio
async def test_manifest_tools_are_the_servers_tools() -> None:
    async with Client(build_server(Settings())) as client:
        listed = await client.list_tools()
    assert MANIFEST["tools"] == [{"name": tool.name, "description": tool.description} for tool in listed.tools]
    assert [tool["name"] for tool in MANIFEST["tools"]] == list(TOOL_NAMES)
    assert list(TOOL_NAMES) == ALL_TOOLS
    assert MANIFEST["tools_generated"] is False


def test_manifest_version_name_and_description_are_the_packages() -> None:
    assert MANIFEST["version"] == __version__
    assert MANIFEST["name"] == SERVER_NAME == PYPROJECT["project"]["name"]
    assert MANIFEST["description"] == PYPROJECT["project"]["description"]
    assert MANIFEST["license"] == PYPROJECT["project"]["license"]
    assert MANIFEST["compatibility"] == {
        "platforms": ["darwin", "win32", "linux"],
        "runtimes": {"python": PYPROJECT["project"]["requires-python"]},
    }


def test_manifest_runs_the_entry_point_with_uv() -> None:
    server = MANIFEST["server"]
    assert MANIFEST["manifest_version"] == "0.4"  # the first with server type "uv"
    assert server["type"] == "uv"
    assert server["entry_point"] == "bundle/main.py"
    assert ENTRY_POINT.is_file()
    assert server["mcp_config"]["command"] == "uv"
    assert server["mcp_config"]["args"] == [
        "run",
        "--quiet",
        "--directory",
        "${__dirname}",
        "${__dirname}/bundle/main.py",
    ]


def test_manifest_maps_user_config_onto_the_servers_environment() -> None:
    assert MANIFEST["server"]["mcp_config"]["env"] == {
        API_KEY_ENV: "${user_config.api_key}",
        ENVIRONMENT_ENV: "${user_config.environment}",
        BASE_URL_ENV: "${user_config.base_url}",
        SANDBOX_ENV: "${user_config.sandbox}",
        READ_ONLY_ENV: "${user_config.read_only}",
        TOOLS_ENV: "${user_config.tools}",
    }
    options = MANIFEST["user_config"]
    assert list(options) == ["api_key", "environment", "base_url", "sandbox", "read_only", "tools"]
    assert (options["api_key"]["type"], options["api_key"]["sensitive"], options["api_key"]["required"]) == (
        "string",
        True,
        True,
    )
    assert "any value works" in options["api_key"]["description"]
    assert options["environment"]["default"] == DEFAULT_ENVIRONMENT == "test_mode"
    # An optional setting needs a default: a host leaves "${user_config.base_url}" as it is otherwise.
    assert options["base_url"]["default"] == ""
    assert (options["sandbox"]["type"], options["sandbox"]["default"]) == ("boolean", False)
    assert (options["read_only"]["type"], options["read_only"]["default"]) == ("boolean", False)
    assert (options["tools"]["type"], options["tools"]["default"]) == ("string", "")


def test_host_substitution_with_defaults_and_with_every_setting() -> None:
    defaults = resolve_mcp_config(MANIFEST, "/b", {"api_key": "sk_test_1"})
    assert defaults == {
        "command": "uv",
        "args": ["run", "--quiet", "--directory", "/b", "/b/bundle/main.py"],
        "env": {
            API_KEY_ENV: "sk_test_1",
            ENVIRONMENT_ENV: "test_mode",
            BASE_URL_ENV: "",
            SANDBOX_ENV: "false",
            READ_ONLY_ENV: "false",
            TOOLS_ENV: "",
        },
    }
    chosen = resolve_mcp_config(
        MANIFEST,
        "/b",
        {
            "api_key": "k",
            "environment": "live_mode",
            "base_url": "http://127.0.0.1:8787",
            "sandbox": True,
            "read_only": True,
            "tools": "list_events,summarize_events",
        },
    )
    assert chosen["env"] == {
        API_KEY_ENV: "k",
        ENVIRONMENT_ENV: "live_mode",
        BASE_URL_ENV: "http://127.0.0.1:8787",
        SANDBOX_ENV: "true",
        READ_ONLY_ENV: "true",
        TOOLS_ENV: "list_events,summarize_events",
    }
    with pytest.raises(KeyError, match="api_key"):
        resolve_mcp_config(MANIFEST, "/b", {})


@pytest.mark.parametrize(
    ("value", "argv", "expected"),
    [
        ("true", [], ["--sandbox"]),
        ("True", ["--log-level", "debug"], ["--sandbox", "--log-level", "debug"]),
        ("1", ["--sandbox"], ["--sandbox"]),
        ("false", [], []),
        ("", ["--version"], ["--version"]),
        ("no", [], []),
    ],
)
def test_bundle_argv_maps_the_sandbox_switch_onto_the_flag(value: str, argv: list[str], expected: list[str]) -> None:
    assert bundle_argv({SANDBOX_ENV: value}, argv) == expected
    assert bundle_argv({}, argv) == argv


async def _run_entry_point(env: dict[str, str], log: Path) -> tuple[list[str], Any, Any]:
    params = StdioServerParameters(command=sys.executable, args=[str(ENTRY_POINT)], env=env)
    with log.open("w+", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = await client.list_tools()
            ingested = await client.call_tool(
                "ingest_events", {"events": [{"event_id": "b1", "customer_id": "cus_b", "event_name": "bundle"}]}
            )
            missing = await client.call_tool("retrieve_event", {"event_id": "nope"})
    CAPTURED.append(log.read_text(encoding="utf-8"))
    return [tool.name for tool in tools.tools], ingested, missing


@pytest.mark.anyio
async def test_bundle_entry_point_serves_the_sandbox_when_switched_on(tmp_path: Path) -> None:
    """What the host starts, minus uv: the manifest's environment, with the sandbox on, over real stdio."""
    resolved = resolve_mcp_config(MANIFEST, str(ROOT), {"api_key": API_KEY, "sandbox": True})
    env = {**_base_env(), **resolved["env"], "DODO_MCP_SANDBOX_DB": ":memory:"}
    names, ingested, missing = await _run_entry_point(env, tmp_path / "stderr.txt")
    assert names == list(TOOL_NAMES)
    assert not ingested.is_error
    assert ingested.structured_content["ingested_count"] == 1
    assert missing.is_error
    assert text_of(missing).startswith("Dodo API error 404 NOT_FOUND")
    stderr = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    assert "dodo-mcp 0.1.0: the local dodo-mcp sandbox (no real Dodo account or money involved)" in stderr


@pytest.mark.anyio
async def test_bundle_entry_point_reaches_the_configured_base_url_when_switched_off(tmp_path: Path) -> None:
    # Port 9 on 127.0.0.1: nothing listens, so the call fails fast without leaving the machine.
    values = {"api_key": API_KEY, "environment": "live_mode", "base_url": "http://127.0.0.1:9", "sandbox": False}
    resolved = resolve_mcp_config(MANIFEST, str(ROOT), values)
    env = {**_base_env(), **resolved["env"], "DODO_MCP_MAX_RETRIES": "0"}
    names, ingested, missing = await _run_entry_point(env, tmp_path / "stderr.txt")
    assert names == list(TOOL_NAMES)
    assert ingested.is_error
    assert missing.is_error
    assert text_of(missing).startswith("Could not reach Dodo at http://127.0.0.1:9")
    stderr = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    assert "dodo-mcp 0.1.0: http://127.0.0.1:9 (custom base URL, live_mode) (API key set)" in stderr


def _base_env() -> dict[str, str]:
    env = server_env()
    env.pop(API_KEY_ENV)
    return env


@pytest.mark.slow
def test_build_makes_an_sdist_and_a_wheel_with_py_typed_and_the_sandbox(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = tmp_path / f"dodo_mcp-{__version__}-py3-none-any.whl"
    sdist = tmp_path / f"dodo_mcp-{__version__}.tar.gz"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([wheel.name, sdist.name])

    # Every module of the package, as the source tree has it.
    package = {str(path.relative_to(ROOT)) for path in (ROOT / "dodo_mcp").rglob("*.py")} | {
        "dodo_mcp/py.typed",
        # The MCP App view (issue 16), built from app/ and committed: a uvx install has no Node.
        "dodo_mcp/ui/usage.html",
    }
    assert {"dodo_mcp/cli/__init__.py", "dodo_mcp/api/client.py", "dodo_mcp/sandbox/store.py"} <= package
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        dist_info = f"dodo_mcp-{__version__}.dist-info"
        metadata = whl.read(f"{dist_info}/METADATA").decode()
        entry_points = whl.read(f"{dist_info}/entry_points.txt").decode()
    assert package <= names
    assert not {name for name in names if name.startswith(("tests/", "bundle/")) or "__pycache__" in name}
    assert f"\nVersion: {__version__}\n" in metadata
    assert f"\nRequires-Python: {PYPROJECT['project']['requires-python']}\n" in metadata
    assert "[console_scripts]\ndodo-mcp = dodo_mcp.cli:main\n" in entry_points

    with tarfile.open(sdist) as tar:
        members = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert package <= members
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= members
