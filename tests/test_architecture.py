"""The layers' import rules, read from the source: what may import what, and the one seam to the SDK.

    api        imports nothing of MCP, the tools, the server, the sandbox or a transport; names no tool
    sandbox    the api layer and config, never the tools, the server or the MCP SDK
    tools      the api layer and config; no SDK import at all (dodo_mcp.mcp_sdk adapts it), no transport
    transports the server wiring and the SDK's public transports, never the tools
    mcp_sdk    the only module that reaches an internal module or a private attribute of the SDK or pydantic

Also: every third-party package the package imports is declared in pyproject.toml.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from dodo_mcp.tools.names import TOOL_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dodo_mcp"
SEAM = "dodo_mcp.mcp_sdk"
# The SDK's public modules: what its own docs and examples import. Anything deeper is internal.
SDK_PUBLIC = {
    "mcp",
    "mcp_types",
    "mcp.server.mcpserver",
    "mcp.server.transport_security",
    "mcp.client.stdio",
    "mcp.client.sse",
    "mcp.client.streamable_http",
    # EventStore, the interface of resumable streams, as the SDK's docs and examples import it.
    "mcp.server.streamable_http",
    "mcp.shared.message",
    "mcp.shared.exceptions",
}
# Dunder attributes that bypass a library's API: instance state, class swaps, pydantic's machinery.
FORBIDDEN_DUNDERS = re.compile(r"^__(dict|class|setattr|pydantic_\w+)__$")


@dataclass
class Module:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)
    strings: list[str] = field(default_factory=list)
    # (line, expression) of each attribute access that reaches past an object's public surface.
    private_access: list[tuple[int, str]] = field(default_factory=list)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".")[: len(module.split(".")) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    # `from x import y` imports x, and x.y when y is a submodule rather than a name x defines.
    return [base, *(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))]


@cache
def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = Module(_module_name(path), path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                module.imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module.imports.update(_resolve(module.name, node))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                module.strings.append(node.value)
            elif isinstance(node, ast.Attribute) and _reaches_past(node):
                module.private_access.append((node.lineno, ast.unparse(node)))
        found[module.name] = module
    return found


def _reaches_past(node: ast.Attribute) -> bool:
    """A private attribute of another object (x._y, not self._y), or a dunder that bypasses an API."""
    own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
    if FORBIDDEN_DUNDERS.match(node.attr):
        return True
    return node.attr.startswith("_") and not node.attr.startswith("__") and not own


def layer(prefix: str) -> list[Module]:
    return [m for m in modules().values() if m.name == prefix or m.name.startswith(prefix + ".")]


def imports_of(module: Module, *prefixes: str) -> list[str]:
    return sorted(name for name in module.imports for p in prefixes if name == p or name.startswith(p + "."))


def test_the_layers_are_where_the_rules_expect_them() -> None:
    names = set(modules())
    assert {"dodo_mcp.api.client", "dodo_mcp.tools.registry", "dodo_mcp.sandbox.app", SEAM} <= names
    assert len(layer("dodo_mcp.api")) >= 8 and len(layer("dodo_mcp.tools")) >= 8


@pytest.mark.parametrize("module", layer("dodo_mcp.api"), ids=lambda m: m.name)
def test_the_api_layer_knows_nothing_of_mcp(module: Module) -> None:
    forbidden = imports_of(
        module,
        "mcp",
        "mcp_types",
        "dodo_mcp.tools",
        "dodo_mcp.server",
        "dodo_mcp.mcp_sdk",
        "dodo_mcp.sandbox",
        "dodo_mcp.stdio",
        "dodo_mcp.http_transport",
        "dodo_mcp.cli",
        "dodo_mcp.demo",
        "starlette",
        "uvicorn",
        "sse_starlette",
    )
    assert forbidden == []
    # No tool is named: no branch on a tool, no hint that tells the agent which tool to call.
    named = sorted({tool for text in module.strings for tool in TOOL_NAMES if tool in text})
    assert named == [], f"{module.name} names the tools {named}"


@pytest.mark.parametrize("module", layer("dodo_mcp.sandbox"), ids=lambda m: m.name)
def test_the_sandbox_uses_the_api_layer_never_the_tools(module: Module) -> None:
    assert imports_of(module, "mcp", "mcp_types", "dodo_mcp.tools", "dodo_mcp.server", SEAM, "dodo_mcp.cli") == []


@pytest.mark.parametrize("module", layer("dodo_mcp.tools"), ids=lambda m: m.name)
def test_the_tools_layer_reaches_the_sdk_only_through_the_seam(module: Module) -> None:
    transports = ("dodo_mcp.stdio", "dodo_mcp.http_transport", "dodo_mcp.listen", "socket", "starlette", "uvicorn")
    assert imports_of(module, "mcp", "mcp_types", *transports) == []
    assert imports_of(module, "dodo_mcp.server", "dodo_mcp.cli", "dodo_mcp.sandbox", SEAM) == []


@pytest.mark.parametrize("name", ["dodo_mcp.stdio", "dodo_mcp.http_transport", "dodo_mcp.listen"])
def test_the_transports_never_import_the_tools(name: str) -> None:
    assert imports_of(modules()[name], "dodo_mcp.tools") == []


@pytest.mark.parametrize("module", [m for m in modules().values() if m.name != SEAM], ids=lambda m: m.name)
def test_only_the_seam_reaches_sdk_or_pydantic_internals(module: Module) -> None:
    sdk = [name for name in imports_of(module, "mcp", "mcp_types") if name not in SDK_PUBLIC]
    assert sdk == [], f"{module.name} imports internal SDK modules; go through {SEAM}"
    underscored = [name for name in module.imports if any(part.startswith("_") for part in name.split("."))]
    assert [n for n in underscored if n.split(".")[0] in ("mcp", "mcp_types", "pydantic", "pydantic_core")] == []
    assert module.private_access == [], f"{module.name} reaches past a public surface"


def test_the_seam_is_where_the_internals_are() -> None:
    seam = modules()[SEAM]
    assert {"mcp.server.mcpserver.tools", "mcp.server.mcpserver.utilities.func_metadata"} <= seam.imports
    # The low-level server (its loop, and the completion/complete and logging/setLevel handlers, all through one
    # helper), a session's connection (its state), the Streamable HTTP sessions held (for the metrics), and the
    # session manager, whose class gains a per-session event_store (events_per_session), and MCPServer's tool
    # manager, made again with the tools a stdio server installs after the handshake (add_tools).
    assert sorted(expression for _, expression in seam.private_access) == [
        "manager.__class__",
        "manager._server_instances",
        "server._lowlevel_server",
        "server._tool_manager",  # read,
        "server._tool_manager",  # and made again
        "session._connection",
    ]


def test_every_third_party_import_is_declared() -> None:
    declared = {
        re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
            "dependencies"
        ]
    }
    distributions = importlib.metadata.packages_distributions()
    top_level = {name.split(".")[0] for module in modules().values() for name in module.imports}
    third_party = sorted(name for name in top_level if name not in sys.stdlib_module_names and name != "dodo_mcp")
    undeclared = {
        name: distributions.get(name)
        for name in third_party
        if not {d.lower().replace("_", "-") for d in distributions.get(name, [name])} & declared
    }
    assert undeclared == {}


def test_the_readme_maps_every_module() -> None:
    """The README's table of modules names each one, so the map for the next person stays true."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The modules", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            first, rest = line[2:].split(" | ", 1)
            rows[first] = rest
    named: set[str] = set()
    for first, rest in rows.items():
        for name in re.findall(r"`([\w/.]+)`", first):
            folder = name if name.endswith("/") else ""
            named.add(name)
            named.update(f"{folder}{inner}" for inner in re.findall(r"`(\w+\.py)`", rest) if folder)
    modules_on_disk = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    unnamed = sorted(module for module in modules_on_disk if module not in named)
    assert unnamed == [], "README.md's module table does not name these"
    stale = sorted(name for name in named if not (PACKAGE / name).exists())
    assert stale == [], "README.md's module table names modules that do not exist"
