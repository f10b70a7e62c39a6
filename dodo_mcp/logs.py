"""Logging on stderr, with secrets redacted from every line.

Stdout carries JSON-RPC only in stdio mode, so nothing logs there. The API key and
the auth token are never logged on purpose; the redaction is a second line of
defence against a library or a future change that logs a header or a URL.

A redaction replaces the secret and nothing else: the text after it (a closing
parenthesis, a quote, the rest of the sentence) stays, so a redacted line still reads.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
# RFC 6750's b64token, the characters a bearer token is made of, not ending in a period (a sentence's
# end, not the token's). Matching only these stops a redaction where the token ends.
_TOKEN = r"[A-Za-z0-9\-._~+/]*[A-Za-z0-9\-_~+/]=*"
# A cookie header's value: name=value pairs joined by ';', up to whitespace, a quote, a comma or a bracket.
_COOKIE = r"[^\s'\",;()\[\]{}]+(?:;\s*[^\s'\",;()\[\]{}]+)*"
# A header's name and separator, as in "Authorization: ", "'authorization': '" or "cookie=".
_SEPARATOR = r"['\"]?\s*[:=]\s*['\"]?"
# Credentials by shape: bearer tokens, the key headers (with an auth scheme or not) and cookies.
# Each alternative captures what stays and the credential itself. "Bearer" followed by a word of prose
# ("a bearer token is required", a challenge's "Bearer realm=") is not a credential.
_PATTERNS = re.compile(
    rf"(?i)(?P<bearer>\bbearer\s+)(?!(?:token|key|realm)\b)(?P<token>{_TOKEN})"
    rf"|(?P<header>\b(?:authorization|x-dodo-payments-api-key){_SEPARATOR}(?:(?:bearer|basic|token)\s+)?)"
    rf"(?P<value>{_TOKEN})"
    rf"|(?P<cookie_header>\b(?:set-cookie|cookie){_SEPARATOR})(?P<cookie>{_COOKIE})"
)


class RedactSecrets(logging.Filter):
    """Replace known secrets, and anything shaped like a credential, in each record's text.

    `public` names values that look like credentials and are not secrets (the sandbox's key: a
    local default or one the user chose, which clients must be told): a shape match on one of
    them is left as it is. A known secret is redacted even when it is also named public.
    """

    def __init__(self, secrets: Iterable[str] = (), public: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._public = frozenset(p for p in public if p)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self.redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _PATTERNS.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        keep = match.group("bearer") or match.group("header") or match.group("cookie_header") or ""
        secret = match.group("token") or match.group("value") or match.group("cookie") or ""
        if secret in self._public:
            return match.group(0)
        return keep + REDACTED


def configure_logging(level: str, secrets: Iterable[str] = (), public: Iterable[str] = ()) -> None:
    """Log to stderr at `level`, redacting `secrets` and credential shapes except the `public` values."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets, public))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 logs full URLs at INFO; our client logs what matters at DEBUG.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    # uvicorn's error logger carries tracebacks of failed connections; keep them, but through our handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
