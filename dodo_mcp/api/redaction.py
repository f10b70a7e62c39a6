"""Known secrets taken out of text and data: the one function every outbound path uses.

The Dodo key, a client's own Dodo key and the HTTP auth token must never reach a client or a log,
whatever Dodo echoes back (a 401 body that quotes the Authorization header, a malformed 200). Tool
results (text and structured content) and log lines both pass through `scrub`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

REDACTED = "[redacted]"
# Shorter values are not real keys or tokens, and replacing every "x" would garble the answer.
MIN_SECRET_LENGTH = 8


def secret_values(values: Iterable[str | None]) -> tuple[str, ...]:
    """The values worth redacting, longest first (so a secret containing another goes whole)."""
    return tuple(sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True))


def scrub(value: Any, secrets: Collection[str]) -> Any:
    """`value` (a string, or JSON-like data: dict keys and values, list items) with each secret replaced."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(key, secrets): scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    return value
