"""Logging on stderr, with secrets redacted from every line.

Stdout carries JSON-RPC only in stdio mode, so nothing logs there. The API key and
the auth token are never logged on purpose; the redaction is a second line of
defence against a library or a future change that logs a header or a URL.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
# Credentials by shape: bearer tokens, Dodo-style keys, cookies and key headers.
_PATTERNS = re.compile(
    r"(?i)(bearer\s+)[^\s'\",]+"
    r"|((?:authorization|cookie|set-cookie|x-dodo-payments-api-key)['\"]?\s*[:=]\s*['\"]?)[^'\"\n,}]+"
)


class RedactSecrets(logging.Filter):
    """Replace known secrets, and anything shaped like a credential, in each record's text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self.redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _PATTERNS.sub(lambda m: (m.group(1) or m.group(2) or "") + REDACTED, text)


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 logs full URLs at INFO; our client logs what matters at DEBUG.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    # uvicorn's error logger carries tracebacks of failed connections; keep them, but through our handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
