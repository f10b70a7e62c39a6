"""The MCP client configurations a README shows, read as a client reads them.

The format contract (README.md keeps to it; tests/test_first_contact.py runs what it finds):
- A fenced ```json block holding an `"mcpServers"` or a `"servers"` object, at any depth (Claude
  Desktop, Cursor, Windsurf; VS Code's `.vscode/mcp.json`). Each entry with a `command` is a stdio
  snippet: its `command`, `args` and `env`. An entry with only a `url` is a remote (HTTP) server: it is
  listed apart and not run. A block that names either key must be valid JSON.
- A `claude mcp add [options] NAME -- COMMAND [ARGS...]` line, in a shell block (```bash, ```sh, ...) or
  an inline code span; `--env/-e KEY=VALUE` options set its environment. With `--transport http` or
  `sse` it is a remote server. `claude mcp add-json NAME '{...}'` is read like a JSON entry.

Placeholders become runnable values by these rules (`resolve`):
- `sk_test_...` stays as it is: the server starts without a working key and still lists its tools.
- VS Code's `${input:ID}` gets `INPUT_VALUE`, as if the user typed it at the prompt.
- The git URL `git+https://github.com/dodo-mcp/dodo-mcp` (with `.git` or `@REF`), and the placeholder
  path `/path/to/dodo-mcp`, become this checkout: there is no network to GitHub here, and the checkout
  is what that URL would give.
- Any other `${...}` or `<...>` placeholder is an error naming it, so a new kind is a decision, not a skip.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIT_URL = "git+https://github.com/dodo-mcp/dodo-mcp"
CHECKOUT_PLACEHOLDER = "/path/to/dodo-mcp"
# What a user would type at VS Code's prompt for an `${input:...}` value: a key that reaches nothing.
INPUT_VALUE = "sk_test_typed_at_the_vscode_prompt"
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh", "powershell", "ps1", "cmd", "text", ""}
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)[^\n]*$")
_INLINE_CLAUDE = re.compile(r"`(claude mcp add[^`\n]*)`")
_GIT_URL = re.compile(re.escape(GIT_URL) + r"(?:\.git)?(?:@[^\s\"'#]+)?")
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|<[^<>\s][^<>]*>")
_VSCODE_INPUT = re.compile(r"\$\{input:[^}]+\}")


class SnippetError(ValueError):
    """A README snippet that breaks the format contract above; the text says where and how."""


@dataclass(frozen=True)
class StdioSnippet:
    """One stdio server configuration, as written in the README."""

    line: int
    kind: str  # "json" or "claude mcp add"
    name: str
    command: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How a test id names it: where it is and what it runs."""
        return f"README.md:{self.line} {self.kind} {self.name}: {shlex.join([self.command, *self.args])}"


@dataclass(frozen=True)
class RemoteSnippet:
    """A remote (HTTP or SSE) server: a URL to connect to, nothing to start."""

    line: int
    kind: str
    name: str
    url: str


@dataclass(frozen=True)
class Snippets:
    stdio: list[StdioSnippet]
    remote: list[RemoteSnippet]


@dataclass(frozen=True)
class _Block:
    line: int  # 1-based line of the block's first content line
    lang: str
    text: str


def _blocks(markdown: str) -> Iterator[_Block]:
    """The fenced code blocks, with their language and where their content starts."""
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        index += 1
        start = index + 1
        while index < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[index]):
            text = lines[index]
            # A block indented under a list item: drop that indent, and no more, from each of its lines.
            body.append(text[indent:] if text[:indent].strip() == "" else text.lstrip())
            index += 1
        index += 1
        yield _Block(start, opening["lang"].lower(), "\n".join(body))


def _outside_blocks(markdown: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line that is not inside a fenced block."""
    inside: str | None = None
    for number, text in enumerate(markdown.splitlines(), start=1):
        opening = _FENCE.match(text)
        if opening and inside is None:
            inside = opening["fence"]
        elif inside is not None and re.match(rf"^\s*{re.escape(inside[0])}{{{len(inside)},}}\s*$", text):
            inside = None
        elif inside is None:
            yield number, text


def parse(markdown: str) -> Snippets:
    """Every client snippet in `markdown`, in the order they appear."""
    found: list[tuple[int, StdioSnippet | RemoteSnippet]] = []
    for block in _blocks(markdown):
        if block.lang in ("json", "jsonc", "json5") and ('"mcpServers"' in block.text or '"servers"' in block.text):
            found.extend((block.line, snippet) for snippet in _from_json_block(block))
        elif block.lang in SHELL_LANGUAGES:
            for offset, command in _shell_commands(block.text):
                if command.startswith("claude mcp add"):
                    found.append((block.line + offset, _from_claude(command, block.line + offset)))
    for number, text in _outside_blocks(markdown):
        for match in _INLINE_CLAUDE.finditer(text):
            found.append((number, _from_claude(match[1], number)))
    ordered = [snippet for _, snippet in sorted(found, key=lambda pair: pair[0])]
    return Snippets(
        stdio=[s for s in ordered if isinstance(s, StdioSnippet)],
        remote=[s for s in ordered if isinstance(s, RemoteSnippet)],
    )


def _from_json_block(block: _Block) -> Iterator[StdioSnippet | RemoteSnippet]:
    try:
        config = json.loads(block.text)
    except json.JSONDecodeError as error:
        raise SnippetError(
            f"README.md:{block.line}: a ```{block.lang} block naming mcpServers or servers is not valid JSON "
            f"({error}); clients reject it too"
        ) from None
    for servers in _server_maps(config):
        for name, entry in servers.items():
            yield _from_entry(name, entry, block.line, "json")


def _server_maps(node: Any) -> Iterator[dict[str, Any]]:
    """Every object under an "mcpServers" or "servers" key, at any depth (VS Code nests them in settings)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("mcpServers", "servers") and isinstance(value, dict):
                yield value
            else:
                yield from _server_maps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _server_maps(item)


def _from_entry(name: str, entry: Any, line: int, kind: str) -> StdioSnippet | RemoteSnippet:
    if not isinstance(entry, dict):
        raise SnippetError(f"README.md:{line}: server {name!r} is {entry!r}, not an object")
    if "command" in entry:
        args, env = entry.get("args", []), entry.get("env", {})
        if not (isinstance(args, list) and all(isinstance(arg, str) for arg in args)):
            raise SnippetError(f"README.md:{line}: server {name!r}: args must be a list of strings, not {args!r}")
        if not (isinstance(env, dict) and all(isinstance(value, str) for value in env.values())):
            raise SnippetError(f"README.md:{line}: server {name!r}: env must map names to strings, not {env!r}")
        return StdioSnippet(line, kind, name, entry["command"], tuple(args), dict(env))
    if "url" in entry:
        return RemoteSnippet(line, kind, name, entry["url"])
    raise SnippetError(f"README.md:{line}: server {name!r} has neither a command (stdio) nor a url (remote)")


def _shell_commands(text: str) -> Iterator[tuple[int, str]]:
    """(line offset, command) of each command in a shell block: continuations joined, prompts dropped."""
    pending: list[str] = []
    start = 0
    for offset, raw in enumerate(text.splitlines()):
        if not pending:
            start = offset
        line = raw.rstrip()
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        command = " ".join(part.strip() for part in pending).strip()
        pending = []
        yield start, command.removeprefix("$ ").removeprefix("> ")


# `claude mcp add`'s options that take a value, and the ones that do not (claude mcp add --help).
_CLAUDE_VALUE_OPTIONS = {
    "-s",
    "--scope",
    "-t",
    "--transport",
    "-e",
    "--env",
    "-H",
    "--header",
    "--client-id",
    "--callback-port",
}
_CLAUDE_FLAG_OPTIONS = {"--client-secret"}


def _from_claude(command: str, line: int) -> StdioSnippet | RemoteSnippet:
    """A `claude mcp add ...` or `claude mcp add-json NAME JSON` line."""
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError as error:
        raise SnippetError(f"README.md:{line}: cannot split {command!r} as a shell line: {error}") from None
    if tokens[:3] == ["claude", "mcp", "add-json"]:
        if len(tokens) < 5:
            raise SnippetError(f"README.md:{line}: `claude mcp add-json` needs a NAME and a JSON object: {command!r}")
        try:
            entry = json.loads(tokens[4])
        except json.JSONDecodeError as error:
            raise SnippetError(f"README.md:{line}: the JSON of `claude mcp add-json` is not valid: {error}") from None
        if entry.get("type") in ("http", "sse") and "url" in entry:
            return RemoteSnippet(line, "claude mcp add-json", tokens[3], entry["url"])
        return _from_entry(tokens[3], entry, line, "claude mcp add-json")
    if tokens[:3] != ["claude", "mcp", "add"]:
        raise SnippetError(f"README.md:{line}: not a `claude mcp add` line: {command!r}")
    rest = tokens[3:]
    run: list[str] = []
    if "--" in rest:
        at = rest.index("--")
        rest, run = rest[:at], rest[at + 1 :]
    env: dict[str, str] = {}
    transport = "stdio"
    positionals: list[str] = []
    index = 0
    while index < len(rest):
        token = rest[index]
        option, _, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if option in _CLAUDE_VALUE_OPTIONS:
            if inline:
                value = inline
            else:
                index += 1
                if index == len(rest):
                    raise SnippetError(f"README.md:{line}: {option} needs a value: {command!r}")
                value = rest[index]
            if option in ("-e", "--env"):
                key, equals, env_value = value.partition("=")
                if not equals:
                    raise SnippetError(f"README.md:{line}: {option} takes KEY=VALUE, not {value!r}")
                env[key] = env_value
            elif option in ("-t", "--transport"):
                transport = value
        elif option in _CLAUDE_FLAG_OPTIONS:
            pass
        elif token.startswith("-"):
            raise SnippetError(
                f"README.md:{line}: `claude mcp add` option {token!r} is unknown to this parser: {command!r}"
            )
        else:
            positionals.append(token)
        index += 1
    if not positionals:
        raise SnippetError(f"README.md:{line}: `claude mcp add` without a server name: {command!r}")
    name, commands = positionals[0], positionals[1:] + run
    if transport in ("http", "sse"):
        if not commands:
            raise SnippetError(f"README.md:{line}: a remote `claude mcp add` needs a URL: {command!r}")
        return RemoteSnippet(line, "claude mcp add", name, commands[0])
    if transport != "stdio":
        raise SnippetError(f"README.md:{line}: unknown transport {transport!r}: {command!r}")
    if not commands:
        raise SnippetError(f"README.md:{line}: `claude mcp add {name}` names no command to run: {command!r}")
    return StdioSnippet(line, "claude mcp add", name, commands[0], tuple(commands[1:]), env)


@dataclass(frozen=True)
class Resolved:
    """A snippet's command line and environment, placeholders replaced: what the test runs."""

    args: tuple[str, ...]
    env: dict[str, str]


def resolve(snippet: StdioSnippet, checkout: Path) -> Resolved:
    """The snippet's args and env with every placeholder replaced by the module's rules."""
    return Resolved(
        args=tuple(_resolve_value(arg, checkout, snippet) for arg in snippet.args),
        env={name: _resolve_value(value, checkout, snippet) for name, value in snippet.env.items()},
    )


def _resolve_value(value: str, checkout: Path, snippet: StdioSnippet) -> str:
    if _GIT_URL.fullmatch(value) or value == CHECKOUT_PLACEHOLDER:
        return str(checkout)
    # Inside a requirement ("dodo-mcp @ git+https://..."), a path is not a URL: use the checkout's file URL.
    value = _GIT_URL.sub(checkout.as_uri(), value).replace(CHECKOUT_PLACEHOLDER, str(checkout))
    value = _VSCODE_INPUT.sub(INPUT_VALUE, value)
    unknown = _PLACEHOLDER.search(value)
    if unknown:
        raise SnippetError(
            f"{snippet.label}: placeholder {unknown[0]!r} has no rule in tests/client_snippets.py; "
            "add one there (and say so in its docstring) or write a runnable value"
        )
    return value
