"""The README kept true: its examples run against the sandbox, and its tables name exactly what the code has.

Examples. Under "## Tools", each tool's section holds example calls: a ```json block of arguments, then
a line "→" and the result (a ```json block: the structuredContent of a call that must not fail; a
```text block: the text of an error), optionally followed by a line starting "*text content*" and a
```json block: the same call's text, parsed. They run in the README's order through a real MCP client
against the in-process sandbox, after the meter shown under explain_meter_match is created. The
normalisation rule is the README's own: the examples were written as if it were the moment the README
names ("as if it were ..."); every RFC 3339 timestamp in an example (in event ids too) is moved to the
real clock by one offset, and every result back by the same offset; the meter's random id stands for
the name the README gives it. Everything else is compared exactly. The sandbox's curl example runs
too, against `dodo-mcp sandbox serve` on a free port.

Tables. The tools table against tools/list (each tool, its arguments and which are optional, its four
annotations), the prompts table against prompts/list, the configuration and HTTP transport tables
against the CLI parser and dodo_mcp.config (every flag, every environment variable, each flag's
variable and default), and both ways: a name in the code and not the README fails, and the other way
round. The module table is tests/test_architecture.py's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import pytest

from dodo_mcp import config
from dodo_mcp.api.limits import (
    DEFAULT_SCAN_EVENTS,
    MAX_EVENTS_PER_CALL,
    MAX_EVENTS_PER_REQUEST,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    MAX_SCAN_EVENTS,
)
from dodo_mcp.api.timestamps import format_timestamp, parse_rfc3339
from dodo_mcp.cli.parser import build_parser
from dodo_mcp.tools.names import TOOL_NAMES
from dodo_mcp.tools.summarize import MAX_GROUPS
from tests.billing import BILLING, create_subscription
from tests.conftest import CAPTURED, sandbox_session, server_env, text_of
from tests.test_insights import create_meters

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ARROW = "→"
TEXT_CONTENT = "*text content*"
# A timestamp as the examples and the sandbox write them: whole seconds, UTC.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# The four MCP hints as the tools table words them: (when true, when false).
HINT_WORDS = {
    "read_only_hint": ("read-only", "not read-only"),
    "destructive_hint": ("destructive", "not destructive"),
    "idempotent_hint": ("idempotent", "not idempotent"),
    "open_world_hint": ("open-world", "closed-world"),
}
CONFIG_SECTIONS = ("Configuration", "HTTP transport")


# Reading the README.


@cache
def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str, level: int = 2) -> str:
    """The text under the heading `title` of `level` (2 for "## Tools"), up to the next heading as high."""
    lines = readme().splitlines()
    start = lines.index("#" * level + " " + title)
    end = len(lines)
    fenced = False
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", lines[i]):  # a "# comment" in a code block is no heading
            end = i
            break
    return "\n".join(lines[start:end])


def prose(text: str) -> str:
    """`text` with every run of whitespace one space, so that a phrase can be found across a line break."""
    return " ".join(text.split())


def line_of(text: str) -> int:
    """The README line number where `text` first appears, for messages that point at it."""
    return readme()[: readme().index(text)].count("\n") + 1


@dataclass(frozen=True)
class Block:
    """A fenced code block at the start of a line: its language, its text, and the last line before it."""

    lang: str
    text: str
    lead: str
    line: int


def blocks(text: str, first_line: int = 1) -> list[Block]:
    found = []
    lines = text.splitlines()
    i = 0
    lead = ""
    while i < len(lines):
        line = lines[i]
        if line.startswith("```") and len(line) > 3:
            end = lines.index("```", i + 1)
            found.append(Block(line[3:], "\n".join(lines[i + 1 : end]) + "\n", lead, first_line + i))
            i = end + 1
            continue
        if line.strip():
            lead = line.strip()
        i += 1
    return found


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in `text`, as lists of cells (header rows left out)."""
    lines = text.splitlines()
    rows = []
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("| ") and not following.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


# The examples.


@dataclass
class Example:
    tool: str
    arguments: Block
    result: Block
    text_content: Block | None = None


def tool_examples() -> list[Example]:
    """Every example call under "## Tools", in order: its tool, its arguments and what it returns."""
    tools = section("Tools")
    first_line = line_of(tools)
    examples: list[Example] = []
    for part in re.split(r"(?m)^(?=### )", tools):
        heading = re.match(r"### `(\w+)`", part)
        if heading is None:
            continue
        found = blocks(part, first_line + tools[: tools.index(part)].count("\n"))
        for previous, block in itertools.pairwise(found):
            if block.lead == ARROW:
                assert previous.lang == "json", f"README.md line {previous.line}: arguments must be a json block"
                examples.append(Example(heading.group(1), previous, block))
            elif block.lead.startswith(TEXT_CONTENT):
                assert examples and examples[-1].result is previous, f"README.md line {block.line}: no call before it"
                examples[-1].text_content = block
    return examples


@dataclass
class Normalisation:
    """The README's rule: its timestamps are moved to the real clock by one offset; its names stand for real ids."""

    offset: timedelta
    names: dict[str, str] = field(default_factory=dict)  # the README's name -> the real id

    def to_real(self, text: str) -> str:
        text = TIMESTAMP.sub(lambda m: format_timestamp(parse_rfc3339(m.group()) + self.offset), text)
        for name, real in self.names.items():
            text = text.replace(name, real)
        return text

    def to_readme(self, text: str) -> str:
        text = TIMESTAMP.sub(lambda m: format_timestamp(parse_rfc3339(m.group()) - self.offset), text)
        for name, real in self.names.items():
            text = text.replace(real, name)
        return text


def written_at() -> datetime:
    found = re.search(r"as if it were (\S+?Z)", prose(section("Tools")))
    assert found, 'the Tools section must say when its examples were written ("as if it were <timestamp>")'
    return parse_rfc3339(found.group(1))


def the_meter() -> tuple[str, dict[str, Any]]:
    """The examples' meter: the name the README gives its id, and the POST /meters body it shows."""
    bodies = [b for b in blocks(section("`explain_meter_match`", 3)) if '"measurement_unit"' in b.text]
    assert len(bodies) == 1, "explain_meter_match's section must show one POST /meters body"
    name = re.search(r"is written `(mtr_\w+)`", prose(section("Tools")))
    assert name, "the Tools section must name the meter's id (is written `mtr_...`)"
    return name.group(1), json.loads(bodies[0].text)


@dataclass(frozen=True)
class ShownSubscription:
    """The examples' subscription as usage_history's section shows it: bodies, customer, creation time, id's name."""

    product: dict[str, Any]
    customer_id: str
    created_at: str
    name: str


def the_subscription() -> ShownSubscription:
    """The POST /products and POST /subscriptions bodies usage_history's section shows, and what it says of them."""
    part = section("`usage_history`", 3)
    bodies = [json.loads(b.text) for b in blocks(part) if '"tax_category"' in b.text or '"billing"' in b.text]
    assert len(bodies) == 2, "usage_history's section must show one POST /products and one POST /subscriptions body"
    product, subscribing = bodies
    assert subscribing["billing"] == BILLING, "the README's billing address is the one tests/billing.py sends"
    created = re.search(r"made in the sandbox .*? at (\S+?Z) with", prose(part), re.S)
    assert created, "usage_history's section must say when the subscription was made ('at <timestamp> with')"
    name = re.search(r"under `usage_history` is written\s+`(sub_\w+)`", prose(section("Tools")))
    assert name, "the Tools section must name the subscription's id (is written `sub_...`)"
    return ShownSubscription(product, subscribing["customer"]["customer_id"], created.group(1), name.group(1))


def meters_as_written(result: Any, at: datetime) -> Any:
    """The README's rule for list_meters: a meter's created_at and updated_at are written as the examples' time
    (the sandbox stamps the meter with its own clock when the test creates it, seconds before the calls)."""
    if isinstance(result, dict) and isinstance(result.get("items"), list):
        stamp = format_timestamp(at)
        for item in result["items"]:
            if isinstance(item, dict) and "measurement_unit" in item:
                item.update(created_at=stamp, updated_at=stamp)
    return result


def test_every_tool_has_an_example_call() -> None:
    assert sorted({example.tool for example in tool_examples()}) == sorted(TOOL_NAMES)


@pytest.mark.anyio
async def test_every_example_call_gives_the_result_the_readme_shows(tmp_path: Path) -> None:
    examples = tool_examples()
    db = tmp_path / "sandbox.sqlite3"
    meter_name, meter_body = the_meter()
    [meter_id] = await create_meters(db, [meter_body])
    # Whole seconds: the sandbox then writes the moved timestamps in the README's own form.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rule = Normalisation(now - written_at(), {meter_name: meter_id})
    subscription = the_subscription()
    subscription_id = await create_subscription(
        db,
        json.loads(rule.to_real(json.dumps(subscription.product))),
        subscription.customer_id,
        parse_rfc3339(rule.to_real(subscription.created_at)),
    )
    rule.names[subscription.name] = subscription_id
    async with sandbox_session(db) as session:
        for example in examples:
            where = f"README.md line {example.arguments.line} ({example.tool})"
            result = await session.call(example.tool, json.loads(rule.to_real(example.arguments.text)))
            if example.result.lang == "text":
                assert result.is_error, f"{where}: a text result is an error's, but the call succeeded"
                assert rule.to_readme(text_of(result)) == example.result.text.rstrip("\n"), where
            else:
                assert not result.is_error, f"{where}: {text_of(result)}"
                shown = json.loads(example.result.text)
                got = json.loads(rule.to_readme(json.dumps(result.structured_content)))
                assert meters_as_written(got, written_at()) == shown, where
            if example.text_content is not None:
                shown = json.loads(example.text_content.text)
                assert json.loads(rule.to_readme(text_of(result))) == shown, f"{where}: its text content"

        # "send the same events again and the answer is {...}": the first example's events, once more.
        claim = re.search(r"send the same events again and the answer is `(\{.*?\})`", prose(section("Tools")))
        assert claim, "the ingest_events section must say what sending the same events again answers"
        first = examples[0]
        assert first.tool == "ingest_events"
        again = await session.call(first.tool, json.loads(rule.to_real(first.arguments.text)))
        assert again.structured_content is not None
        stated = json.loads(claim.group(1))
        assert {key: again.structured_content[key] for key in stated} == stated


def test_the_sandbox_curl_example_answers_as_its_comment_says(tmp_path: Path) -> None:
    [block] = [b for b in blocks(section("The sandbox")) if "curl " in b.text]
    lines = block.text.replace("\\\n", " ").splitlines()
    [serve] = [line for line in lines if line.startswith("dodo-mcp sandbox serve")]
    [curl] = [line for line in lines if line.startswith("curl ")]
    # The README's serve command on a free port, with a throwaway database instead of the user's own.
    args = shlex.split(serve.removesuffix("&"))[1:]
    port_at = args.index("--port") + 1
    args[port_at] = "0"
    command = [sys.executable, "-m", "dodo_mcp", *args, "--db", str(tmp_path / "sandbox.sqlite3")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env(), text=True)
    stderr = StderrLines(process)
    try:
        port = stderr.wait_for(r"dodo-mcp sandbox listening on http://127\.0\.0\.1:(\d+)")
        request, answer = curl.split("#", 1)
        method, url, headers, body = _curl_request(shlex.split(request))
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))
        response = httpx2.request(method, url, headers=headers, content=body, timeout=10)
        assert response.json() == json.loads(answer.strip())
    finally:
        process.terminate()
        process.wait(timeout=10)
        CAPTURED.append(stderr.text())


class StderrLines:
    """A process's stderr, read line by line in a thread, so that waiting for a line has a bound."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self._pipe = process.stderr
        self._lines: queue.Queue[str] = queue.Queue()
        self._seen: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._pipe:
            self._lines.put(line)
        self._lines.put("")  # the end of the stream

    def wait_for(self, pattern: str, timeout_s: float = 30) -> str:
        """The first group of the first line matching `pattern`; fails when stderr ends or the time is up first."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            self._seen.append(line)
            if not line:
                break
            found = re.search(pattern, line)
            if found:
                return found.group(1)
        raise AssertionError(f"no line matched {pattern!r}; stderr so far:\n{''.join(self._seen)}")

    def text(self) -> str:
        """All of stderr, once the process has ended."""
        self._thread.join(10)
        while not self._lines.empty():
            self._seen.append(self._lines.get())
        return "".join(self._seen)


def _curl_request(argv: list[str]) -> tuple[str, str, dict[str, str], bytes | None]:
    """The request a curl command line makes, for the options the README uses (any other fails the test)."""
    assert argv[0] == "curl"
    headers: dict[str, str] = {}
    body: bytes | None = None
    url = ""
    words = iter(argv[1:])
    for word in words:
        if word == "-s":
            continue
        if word == "-H":
            name, value = next(words).split(":", 1)
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(words).encode()
        elif word.startswith("http"):
            url = word
        else:
            raise AssertionError(f"the README's curl uses {word}, which this test does not know")
    return ("POST" if body is not None else "GET"), url, headers, body


# Going live: the startup lines the README shows are the server's.


def test_the_going_live_startup_lines_are_what_the_server_logs() -> None:
    [shown] = [b for b in blocks(section("Going live safely")) if b.lang == "text"]
    run = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", "--read-only"],
        env=server_env(DODO_PAYMENTS_ENVIRONMENT="live_mode"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    CAPTURED.append(run.stderr)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    # Each log line starts with the date and time, which the README leaves out; any version will do.
    logged = [_any_version(re.sub(r"^\S+ \S+ ", "", line)) for line in run.stderr.splitlines()]
    expected = [_any_version(line.strip()) for line in shown.text.splitlines() if line.strip()]
    remaining = iter(logged)
    missing = [line for line in expected if line not in remaining]  # in order, other lines between allowed
    assert missing == [], f"not logged (in this order): {missing}\nstderr:\n{run.stderr}"


def _any_version(line: str) -> str:
    return re.sub(r"dodo-mcp \d+\.\d+\.\d+\S*:", "dodo-mcp <version>:", line)


# The tables.


@pytest.mark.anyio
async def test_the_tools_table_is_what_tools_list_publishes() -> None:
    rows = {}
    for cells in table_rows(section("Tools").split("\n### ", 1)[0]):
        signature = re.fullmatch(r"`(\w+)\(([^)]*)\)`", cells[0])
        assert signature, f"a tools table row starts with `name(arguments)`: {cells[0]}"
        arguments = [a.strip() for a in signature.group(2).split(",") if a.strip()]
        hints = [word.strip() for word in re.sub(r"\s*\([^)]*\)", "", cells[2]).split(",")]
        rows[signature.group(1)] = (arguments, hints)
    async with sandbox_session() as session:
        listed = (await session.client.list_tools()).tools
    published = {}
    for tool in listed:
        required = set(tool.input_schema.get("required", []))
        arguments = [name if name in required else f"{name}?" for name in tool.input_schema["properties"]]
        assert tool.annotations is not None
        hints = [HINT_WORDS[hint][0 if getattr(tool.annotations, hint) else 1] for hint in HINT_WORDS]
        published[tool.name] = (arguments, hints)
    assert rows == published
    assert list(rows) == list(TOOL_NAMES), "the table lists the tools in tools/list's order"


@pytest.mark.anyio
async def test_the_prompts_table_is_what_prompts_list_publishes() -> None:
    rows = {
        cells[0].strip("`"): [a.strip().strip("`") for a in cells[1].split(",")]
        for cells in table_rows(section("Prompts", 3))
    }
    async with sandbox_session() as session:
        listed = (await session.client.list_prompts()).prompts
    published = {
        prompt.name: [a.name if a.required else f"{a.name}?" for a in prompt.arguments or []] for prompt in listed
    }
    assert rows == published


@dataclass(frozen=True)
class SettingRow:
    variables: tuple[str, ...]
    flags: tuple[str, ...]
    default: str
    line: str


def setting_rows() -> list[SettingRow]:
    """The rows of the configuration and HTTP transport tables."""
    rows = []
    for title in CONFIG_SECTIONS:
        for cells in table_rows(section(title)):
            assert len(cells) == 4, f"a settings row has four cells (variable, flag, default, meaning): {cells}"
            variables = tuple(re.findall(r"`(DODO_[A-Z_]+)", cells[0]))
            flags = tuple(re.findall(r"`(--[a-z-]+)", cells[1]))
            assert variables or flags, f"a settings row names a variable or a flag: {cells}"
            rows.append(SettingRow(variables, flags, cells[2], " | ".join(cells)))
    return rows


def parser_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    # argparse has no public way to list a parser's arguments; _actions has been the way since Python 2.7.
    return list(parser._actions)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser_actions(parser):
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def server_flags() -> dict[str, argparse.Action]:
    """The server's own flags (not --help and --version, not the subcommands'), by their long name."""
    return {
        action.option_strings[-1]: action
        for action in parser_actions(build_parser())
        if action.option_strings and action.option_strings[-1] not in ("--help", "--version")
    }


def help_notes(action: argparse.Action) -> dict[str, str]:
    """A flag's variable and default, as its help's closing parentheses name them: (env X; default Y)."""
    found = re.search(r"\(([^()]*)\)\.$", action.help or "")
    notes: dict[str, str] = {}
    for part in found.group(1).split("; ") if found else []:
        if part.startswith("env "):
            notes.setdefault("env", re.findall(r"[A-Z_]+", part)[0])
        elif part.startswith("default "):
            notes.setdefault("default", part.removeprefix("default "))
    return notes


def environment_variables() -> set[str]:
    """Every environment variable the server reads: dodo_mcp.config names each once, as a *_ENV constant."""
    return {value for name, value in vars(config).items() if name.endswith("_ENV") and isinstance(value, str)}


def test_every_flag_is_in_the_settings_tables_and_every_table_flag_exists() -> None:
    tabled = {flag for row in setting_rows() for flag in row.flags}
    assert sorted(tabled - set(server_flags())) == [], "the README's tables name flags the parser does not have"
    assert sorted(set(server_flags()) - tabled) == [], "these flags are missing from the README's tables"


def test_every_environment_variable_is_in_the_settings_tables_and_every_table_variable_exists() -> None:
    tabled = {variable for row in setting_rows() for variable in row.variables}
    assert sorted(tabled - environment_variables()) == [], "the README's tables name variables the code never reads"
    assert sorted(environment_variables() - tabled) == [], "these variables are missing from the README's tables"


@pytest.mark.parametrize("flag", sorted(server_flags()))
def test_each_flag_has_its_variable_and_default_in_the_table(flag: str) -> None:
    """The row of a flag names the variable its help names, and the default its help names.

    A default the help words at length ("the user data directory, e.g. ...") may be given by its first
    words; a switch (store_true) is "off"; a flag whose help names no default has "—" or words, never a
    value in backticks.
    """
    [row] = [row for row in setting_rows() if flag in row.flags]
    action = server_flags()[flag]
    notes = help_notes(action)
    if "env" in notes:
        assert notes["env"] in row.variables, f"{flag}'s help names {notes['env']}: {row.line}"
    shown = row.default.replace("`", "")
    if isinstance(action, argparse._StoreTrueAction):
        assert shown == "off", row.line
    elif "default" in notes:
        assert shown and notes["default"].startswith(shown), f"{flag}'s default is {notes['default']!r}: {row.line}"
    else:
        assert "`" not in row.default, f"{flag}'s help names no default, so the README cannot name a value: {row.line}"


def test_the_sandbox_section_names_every_sandbox_command_flag() -> None:
    text = section("The sandbox")
    commands = subcommands(build_parser())
    assert "dodo-mcp demo" in readme()
    for name, command in subcommands(commands["sandbox"]).items():
        assert f"dodo-mcp sandbox {name}" in text
        flags = [flag for action in parser_actions(command) for flag in action.option_strings]
        missing = [
            flag
            for flag in flags
            if flag.startswith("--") and flag != "--help" and not re.search(rf"(?<![\w-]){flag}(?![\w-])", text)
        ]
        assert missing == [], f"`sandbox {name}`: the README's sandbox section lacks {missing}"


def test_help_and_version_are_mentioned() -> None:
    assert "--version" in readme()


# The rest the README states about the code.


def test_the_limits_stated_are_the_codes() -> None:
    ingest = prose(section("`ingest_events`", 3))
    for phrase in (
        f"One call takes 1 to {MAX_EVENTS_PER_CALL:,} events",
        f"at most {MAX_EVENTS_PER_REQUEST:,}, Dodo's limit per request",
        f"default {config.DEFAULT_INGEST_BATCH_SIZE};",
        f"(default {config.DEFAULT_INGEST_CONCURRENCY})",
        f"at most {MAX_METADATA_KEYS} metadata keys of at most {MAX_METADATA_KEY_LENGTH} characters",
        f"strings at most {MAX_METADATA_STRING_LENGTH} characters",
    ):
        assert phrase in ingest
    summarize = prose(section("`summarize_events`", 3))
    for phrase in (
        f"`max_events` (default {DEFAULT_SCAN_EVENTS:,}, at most {MAX_SCAN_EVENTS:,})",
        f"At most {MAX_GROUPS} groups are returned",
    ):
        assert phrase in summarize


def test_the_registry_marker_and_the_git_url_are_the_manifests_repository() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    repository = manifest["repository"]["url"]
    owner, name = urlsplit(repository).path.strip("/").split("/")
    # The MCP Registry reads the ownership marker from the package's README, as an HTML comment near the top.
    head = "\n".join(readme().splitlines()[:10])
    assert f"<!-- mcp-name: io.github.{owner}/{name} -->" in head
    assert set(re.findall(r"git\+https://[\w./-]+", readme())) == {f"git+{repository}"}
    github = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", readme()))
    assert github == {repository}, "the README installs from the repository manifest.json names, and no other"


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    [block] = [b for b in blocks(section("On a fresh machine")) if "# 2. Run the tests" in b.text]
    command = block.text.splitlines()[-1]
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def _named_paths() -> Iterator[str]:
    """Every path in the checkout the README names in backticks: a file under one of its folders, or dodo_mcp's."""
    for name in re.findall(r"`([\w.][\w./-]*\.(?:py|md|json|toml|yml|yaml))`", readme()):
        first = name.split("/")[0]
        if "/" in name and ((ROOT / first).is_dir() or (ROOT / "dodo_mcp" / first).is_dir()):
            yield name


def test_every_file_the_readme_names_exists() -> None:
    """A path names a file from the checkout's root, or a module from dodo_mcp/ (as the module table does)."""
    named = set(_named_paths())
    assert "dodo_mcp/api/meter_engine.py" in named
    missing = sorted(name for name in named if not (ROOT / name).exists() and not (ROOT / "dodo_mcp" / name).exists())
    assert missing == []
