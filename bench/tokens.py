"""cl100k_base token counts, offline: js-tiktoken (npm), which ships the ranks in its package.

Python's tiktoken fetches its ranks from a host outside the registries, so on a fresh machine it
cannot count at all, and a silent fallback to characters/4 would report a made-up figure. Here a
missing tokenizer is an error that says how to install it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

CLIENTS = Path(__file__).resolve().parent.parent / "tests" / "clients"
SCRIPT = CLIENTS / "count_tokens.mjs"
INSTALL = "cd tests/clients && npm ci (it installs js-tiktoken, pinned in package.json, with the clients CI drives)"
TIMEOUT_S = 60
# What tools/list may cost the model on every conversation: all tools, an MCP App's metadata included.
CONTEXT_BUDGET_TOKENS = 3_600


class TokenizerUnavailable(RuntimeError):
    """Node or js-tiktoken is missing, so no token can be counted."""


def available() -> bool:
    return shutil.which("node") is not None and (CLIENTS / "node_modules" / "js-tiktoken").is_dir()


def cl100k_counts(texts: Sequence[str]) -> list[int]:
    """The cl100k_base token count of each text, in one Node process."""
    node = shutil.which("node")
    if node is None or not available():
        raise TokenizerUnavailable(f"counting cl100k tokens needs Node and js-tiktoken: {INSTALL}")
    done = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(list(texts)), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    if done.returncode != 0:
        raise TokenizerUnavailable(f"js-tiktoken failed: {done.stderr.strip()[-500:]}")
    counts = json.loads(done.stdout)
    assert isinstance(counts, list) and len(counts) == len(texts)
    return [int(count) for count in counts]


def cl100k(text: str) -> int:
    [count] = cl100k_counts([text])
    return count
