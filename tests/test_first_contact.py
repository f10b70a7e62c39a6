"""First contact, exactly as a user types it: `uvx dodo-mcp`, `pip install dodo-mcp`, and every client snippet
in the README, each answering initialize and tools/list over real stdio.

dodo-mcp is not on PyPI yet, so tests/package_index.py serves the sdist and wheel built from this checkout
on 127.0.0.1, first in line, with PyPI behind it for the dependencies (these tests need PyPI: that is what
a user's first install does). Each spawned server gets what an MCP client gives it: the SDK's default
environment (PATH, HOME, ... only), the snippet's own `env` over it, and the test's isolation: a home
directory of its own (so `--sandbox`'s default database lands there, not in yours) and uv's settings
(tests/package_index.py's `uv_environment`). Commands map onto this run's tools: `uvx`/`uv` the test
extra's uv pointed at the index, `dodo-mcp`/`python` the ones `pip install dodo-mcp` put in a fresh venv.
Placeholders in snippets follow tests/client_snippets.py's rules. Remote (url-only) snippets start
nothing and are not run here: the HTTP transport's tests cover that side.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment, stdio_client
from uv import find_uv_bin

from dodo_mcp import __version__
from dodo_mcp.cli.options import listed
from dodo_mcp.config import READ_ONLY_ENV, TOOLS_ENV, env_flag
from dodo_mcp.sandbox.store import default_db_path
from dodo_mcp.server import SERVER_NAME
from dodo_mcp.tools.names import select_tools
from tests.client_snippets import (
    CHECKOUT_PLACEHOLDER,
    GIT_URL,
    INPUT_VALUE,
    RemoteSnippet,
    SnippetError,
    Snippets,
    StdioSnippet,
    parse,
    resolve,
)
from tests.conftest import ALL_TOOLS, CAPTURED
from tests.package_index import ROOT, BuiltDists, PackageIndex, build_dists, pip_environment, uv_environment

README = ROOT / "README.md"
WINDOWS = sys.platform == "win32"
UV = Path(find_uv_bin())
UVX = UV.with_name("uvx" + UV.suffix)
# A first run resolves and downloads every dependency from PyPI; later ones come from the cache.
INSTALL_TIMEOUT_S = 600
SESSION_TIMEOUT_S = 300
# The README today has 6 stdio snippets (the sandbox one, Claude Desktop, Claude Code, Cursor, VS Code,
# Windsurf) and 3 remote ones. Fewer stdio snippets means some were lost or no longer parse; more is fine
# (e.g. "today, from git" and "once on PyPI" forms side by side).
MIN_STDIO_SNIPPETS = 6


@dataclass(frozen=True)
class PipInstall:
    """A fresh venv after `pip install dodo-mcp` from the index: where it is, and what pip said."""

    scripts: Path
    output: str
    wheel_downloads: int  # times the index served dodo-mcp's wheel during the install


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> BuiltDists:
    return build_dists(tmp_path_factory.mktemp("dists"))


@pytest.fixture(scope="session")
def index(dists: BuiltDists) -> Iterator[PackageIndex]:
    with PackageIndex(dists) as served:
        yield served


@pytest.fixture(scope="session")
def uv_env(index: PackageIndex, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """uv's settings for this run's uvx calls, with a cache of this run's own (shared by its tests)."""
    return uv_environment(index, tmp_path_factory.mktemp("uv-cache"))


@pytest.fixture(scope="session")
def pip_installed(index: PackageIndex, tmp_path_factory: pytest.TempPathFactory) -> PipInstall:
    """`python -m venv` then, inside it, `pip install dodo-mcp`, with pip pointed at the index and PyPI."""
    venv = tmp_path_factory.mktemp("pip-install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    scripts = venv / ("Scripts" if WINDOWS else "bin")
    before = index.served(index.dists.wheel)
    done = subprocess.run(
        [str(scripts / "python"), "-m", "pip", "install", "dodo-mcp"],
        env=get_default_environment() | pip_environment(index),
        cwd=venv.parent,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"pip install dodo-mcp failed (exit {done.returncode}):\n{output[-4000:]}"
    return PipInstall(scripts, output, index.served(index.dists.wheel) - before)


def client_home(tmp_path: Path) -> dict[str, str]:
    """A home directory of the server's own: where `--sandbox` keeps its default database on each platform."""
    home = tmp_path / "home"
    home.mkdir(parents=True)
    if WINDOWS:
        return {"LOCALAPPDATA": str(home / "AppData" / "Local"), "USERPROFILE": str(home)}
    return {"HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share")}


@dataclass(frozen=True)
class Listed:
    server_name: str
    server_version: str
    tools: list[str]
    stderr: str


async def list_tools(command: str, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Listed:
    """Start `command args` as an MCP client does (the SDK's stdio_client: `env` over its default
    environment), initialize, list the tools, and close its stdin."""
    params = StdioServerParameters(command=command, args=list(args), env=dict(env), cwd=cwd)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        failure: BaseException | None = None
        try:
            with anyio.fail_after(SESSION_TIMEOUT_S):
                async with Client(stdio_client(params, errlog=errlog)) as client:  # type: ignore[arg-type]
                    listed_tools = await client.list_tools()
                    info = client.server_info
        except Exception as error:  # the client's error says little; what the command printed says why
            failure = error
        errlog.seek(0)
        stderr = errlog.read()
        CAPTURED.append(stderr)
    if failure is not None:
        raise AssertionError(
            f"{shlex.join([command, *args])} did not answer tools/list: {failure!r}\nits stderr:\n{stderr[-4000:]}"
        ) from failure
    assert info is not None
    return Listed(info.name, info.version, [tool.name for tool in listed_tools.tools], stderr)


def run(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `command` as a terminal would, with `env` over the SDK's default environment."""
    return subprocess.run(
        list(command),
        env=get_default_environment() | dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )


# --- uvx dodo-mcp ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_uvx_dodo_mcp_version_downloads_the_built_wheel_from_the_index(index: PackageIndex, tmp_path: Path) -> None:
    # A cache of this test's own: uv cannot have dodo-mcp from anywhere but the index.
    env = uv_environment(index, tmp_path / "uv-cache") | client_home(tmp_path)
    before = index.served(index.dists.wheel)
    done = run([str(UVX), "dodo-mcp", "--version"], env, tmp_path)
    assert (done.returncode, done.stdout) == (0, f"dodo-mcp {__version__}\n"), done.stderr
    assert index.served(index.dists.wheel) == before + 1


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("requirement", ["dodo-mcp", f"dodo-mcp@{__version__}"])
async def test_uvx_dodo_mcp_answers_initialize_and_tools_list(
    requirement: str, uv_env: dict[str, str], tmp_path: Path
) -> None:
    listed = await list_tools(str(UVX), [requirement], uv_env | client_home(tmp_path), tmp_path)
    assert (listed.server_name, listed.server_version, listed.tools) == (SERVER_NAME, __version__, ALL_TOOLS)
    # The startup line on stderr, and nothing asked of a key that is not set.
    assert f"dodo-mcp {__version__}: Dodo Payments test_mode at https://test.dodopayments.com" in listed.stderr


@pytest.mark.slow
def test_uvx_with_a_version_the_index_lacks_fails_and_names_it(uv_env: dict[str, str], tmp_path: Path) -> None:
    """The pin is honoured: a version nobody built is not replaced by the one the index has."""
    done = run([str(UVX), "dodo-mcp@9.9.9", "--version"], uv_env | client_home(tmp_path), tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "dodo-mcp==9.9.9" in done.stderr


# --- pip install dodo-mcp --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_pip_install_dodo_mcp_from_the_index_then_it_answers_tools_list(
    pip_installed: PipInstall, tmp_path: Path
) -> None:
    assert pip_installed.wheel_downloads == 1, pip_installed.output
    assert re.search(rf"^Successfully installed .*\bdodo-mcp-{re.escape(__version__)}\b", pip_installed.output, re.M)
    dodo_mcp = pip_installed.scripts / "dodo-mcp"
    done = run([str(dodo_mcp), "--version"], client_home(tmp_path), tmp_path)
    assert (done.returncode, done.stdout) == (0, f"dodo-mcp {__version__}\n"), done.stderr
    listed = await list_tools(str(dodo_mcp), [], client_home(tmp_path / "server"), tmp_path)
    assert (listed.server_name, listed.server_version, listed.tools) == (SERVER_NAME, __version__, ALL_TOOLS)


@pytest.mark.slow
def test_the_wheel_describes_the_package_with_the_mcp_registry_ownership_marker(dists: BuiltDists) -> None:
    """The MCP Registry checks a PyPI package's ownership by finding `mcp-name: NAME` in its description,
    which is the README (pyproject's `readme`); the wheel's METADATA is what PyPI will show."""
    with zipfile.ZipFile(dists.wheel) as wheel:
        metadata = wheel.read(f"dodo_mcp-{__version__}.dist-info/METADATA").decode("utf-8")
    assert "\nDescription-Content-Type: text/markdown\n" in metadata
    assert "<!-- mcp-name: io.github.dodo-mcp/dodo-mcp -->" in metadata


# --- the README's client snippets ------------------------------------------------------------------------


def _readme_snippets() -> tuple[Snippets | None, str | None]:
    try:
        return parse(README.read_text(encoding="utf-8")), None
    except SnippetError as error:
        return None, str(error)


SNIPPETS, PARSE_ERROR = _readme_snippets()
STDIO_SNIPPETS: list[StdioSnippet] = SNIPPETS.stdio if SNIPPETS else []


def test_the_readme_shows_the_client_snippets_it_should() -> None:
    assert PARSE_ERROR is None, PARSE_ERROR
    assert SNIPPETS is not None
    labels = "\n".join(snippet.label for snippet in SNIPPETS.stdio)
    assert len(SNIPPETS.stdio) >= MIN_STDIO_SNIPPETS, f"{len(SNIPPETS.stdio)} stdio snippets:\n{labels}"
    kinds = {snippet.kind for snippet in SNIPPETS.stdio}
    assert {"json", "claude mcp add"} <= kinds, labels
    # Every snippet can be made runnable by the documented rules, and runs a command this test knows.
    for snippet in SNIPPETS.stdio:
        resolve(snippet, ROOT)
        assert _tool_of(snippet.command) in ("uvx", "uv", "dodo-mcp", "python"), snippet.label
    # Remote snippets are real entries too (each with a URL), just not started here.
    assert all(isinstance(snippet, RemoteSnippet) and snippet.url.startswith("https://") for snippet in SNIPPETS.remote)


def _tool_of(command: str) -> str:
    """Which tool a snippet's command names, also as an absolute path ("/Users/you/.local/bin/uvx")."""
    name = re.split(r"[\\/]", command)[-1].lower().removesuffix(".exe")
    return "python" if name in ("python", "python3") else name


def _expected_tools(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The tools the snippet's flags and environment select, by the server's own rule."""
    read_only = "--read-only" in args or env_flag(env.get(READ_ONLY_ENV))
    names = env.get(TOOLS_ENV)
    for position, arg in enumerate(args):
        if arg == "--tools" and position + 1 < len(args):
            names = args[position + 1]
        elif arg.startswith("--tools="):
            names = arg.removeprefix("--tools=")
    return select_tools(listed(names) if names else None, read_only=read_only)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("snippet", STDIO_SNIPPETS, ids=[snippet.label for snippet in STDIO_SNIPPETS])
async def test_readme_client_snippet_answers_tools_list(
    snippet: StdioSnippet, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved = resolve(snippet, ROOT)
    home = client_home(tmp_path)
    tool = _tool_of(snippet.command)
    if tool in ("uvx", "uv"):
        command = str(UVX if tool == "uvx" else UV)
        isolation = request.getfixturevalue("uv_env") | home
    else:
        scripts = request.getfixturevalue("pip_installed").scripts
        command = str(scripts / ("dodo-mcp" if tool == "dodo-mcp" else "python"))
        isolation = home
    # The client's own env wins over the test's isolation, as it would over the client's environment.
    listed = await list_tools(command, resolved.args, isolation | resolved.env, tmp_path)
    assert (listed.server_name, listed.server_version) == (SERVER_NAME, __version__)
    assert listed.tools == _expected_tools(resolved.args, resolved.env)
    if "--sandbox" in resolved.args and "--sandbox-db" not in resolved.args:
        # The sandbox's default database went where the client's home says, not into the tester's.
        for name, value in home.items():
            monkeypatch.setenv(name, value)
        assert default_db_path().is_file()


# --- the snippet parser itself (no network) --------------------------------------------------------------

SAMPLE = """
Claude Desktop:

```json
{"mcpServers": {"a": {"command": "uvx", "args": ["dodo-mcp", "--sandbox"]},
                "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer <token>"}}}}
```

1. VS Code, in a list item:

   ```jsonc
   {"mcp": {"servers": {"b": {"type": "stdio", "command": "uvx",
     "args": ["--from", "git+https://github.com/dodo-mcp/dodo-mcp@v0.1.0", "dodo-mcp"],
     "env": {"DODO_PAYMENTS_API_KEY": "${input:dodo-key}"}}}}}
   ```

```bash
# Claude Code
claude mcp add c --scope user -e DODO_PAYMENTS_API_KEY=sk_test_... \\
  --env=DODO_MCP_READ_ONLY=1 -- uvx --from /path/to/dodo-mcp dodo-mcp --read-only
$ claude mcp add --transport http r https://mcp.example.com/mcp --header "Authorization: Bearer <token>"
claude mcp add-json d '{"command": "dodo-mcp", "args": ["--tools", "list_events"]}'
```

Or inline: `claude mcp add e -- uvx dodo-mcp@0.1.0`.

```json
{"events": [{"event_id": "not a client config"}]}
```
"""


def test_the_parser_reads_every_documented_form() -> None:
    snippets = parse(SAMPLE)
    assert snippets.stdio == [
        StdioSnippet(5, "json", "a", "uvx", ("dodo-mcp", "--sandbox"), {}),
        StdioSnippet(
            12,
            "json",
            "b",
            "uvx",
            ("--from", "git+https://github.com/dodo-mcp/dodo-mcp@v0.1.0", "dodo-mcp"),
            {"DODO_PAYMENTS_API_KEY": "${input:dodo-key}"},
        ),
        StdioSnippet(
            19,
            "claude mcp add",
            "c",
            "uvx",
            ("--from", "/path/to/dodo-mcp", "dodo-mcp", "--read-only"),
            {"DODO_PAYMENTS_API_KEY": "sk_test_...", "DODO_MCP_READ_ONLY": "1"},
        ),
        StdioSnippet(22, "claude mcp add-json", "d", "dodo-mcp", ("--tools", "list_events"), {}),
        StdioSnippet(25, "claude mcp add", "e", "uvx", ("dodo-mcp@0.1.0",), {}),
    ]
    assert snippets.remote == [
        RemoteSnippet(5, "json", "remote", "https://mcp.example.com/mcp"),
        RemoteSnippet(21, "claude mcp add", "r", "https://mcp.example.com/mcp"),
    ]


def test_placeholders_resolve_by_the_documented_rules() -> None:
    checkout = Path("/src/dodo-mcp")
    snippets = parse(SAMPLE).stdio
    assert resolve(snippets[1], checkout).args == ("--from", str(checkout), "dodo-mcp")
    assert resolve(snippets[1], checkout).env == {"DODO_PAYMENTS_API_KEY": INPUT_VALUE}
    assert resolve(snippets[2], checkout).args == ("--from", str(checkout), "dodo-mcp", "--read-only")
    # sk_test_... stays: the server starts with it and lists its tools.
    assert resolve(snippets[2], checkout).env["DODO_PAYMENTS_API_KEY"] == "sk_test_..."
    requirement = StdioSnippet(1, "json", "f", "uvx", ("--with", f"dodo-mcp @ {GIT_URL}.git", "dodo-mcp"), {})
    assert resolve(requirement, checkout).args == ("--with", f"dodo-mcp @ {checkout.as_uri()}", "dodo-mcp")
    assert CHECKOUT_PLACEHOLDER == "/path/to/dodo-mcp"
    assert _expected_tools(resolve(snippets[2], checkout).args, {}) == [
        "retrieve_event",
        "list_events",
        "summarize_events",
        "explain_meter_match",
        "list_meters",
        "usage_history",
    ]
    assert _expected_tools(snippets[3].args, {}) == ["list_events"]
    assert _expected_tools([], {TOOLS_ENV: "retrieve_event", READ_ONLY_ENV: "true"}) == ["retrieve_event"]
    assert _tool_of("C:\\Users\\you\\.local\\bin\\uvx.exe") == "uvx"
    assert _tool_of("/usr/bin/python3") == "python"


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        (
            '```json\n{"mcpServers": {"a": {"command": "uvx",}}}\n```\n',
            "README.md:2: a ```json block naming mcpServers or servers is not valid JSON",
        ),
        ('```json\n{"servers": {"a": {"type": "stdio"}}}\n```\n', "server 'a' has neither a command (stdio) nor a url"),
        ("```bash\nclaude mcp add --bogus x -- uvx dodo-mcp\n```\n", "option '--bogus' is unknown to this parser"),
        ("```bash\nclaude mcp add x\n```\n", "`claude mcp add x` names no command to run"),
    ],
)
def test_the_parser_refuses_what_breaks_the_contract_and_says_where(markdown: str, message: str) -> None:
    with pytest.raises(SnippetError, match=re.escape(message)):
        parse(markdown)


def test_an_unknown_placeholder_is_an_error_naming_it() -> None:
    snippet = StdioSnippet(7, "json", "a", "uvx", ("dodo-mcp",), {"DODO_PAYMENTS_API_KEY": "<your key>"})
    with pytest.raises(SnippetError, match=re.escape("placeholder '<your key>' has no rule")):
        resolve(snippet, ROOT)
    workspace = StdioSnippet(7, "json", "a", "uvx", ("--from", "${workspaceFolder}", "dodo-mcp"), {})
    with pytest.raises(SnippetError, match=re.escape("placeholder '${workspaceFolder}' has no rule")):
        resolve(workspace, ROOT)
