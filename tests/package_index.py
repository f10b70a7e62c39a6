"""A package index on 127.0.0.1 serving the sdist and wheel built from this checkout, for first-contact tests.

dodo-mcp is not on PyPI yet, so `uvx dodo-mcp` and `pip install dodo-mcp` can only be proven against an
index that has it: `build_dists` runs `python -m build` on the checkout, `PackageIndex` serves the result
with pypiserver (its WSGI app, in a thread of the test process, on a free loopback port), and
`uv_environment` / `pip_environment` point uv and pip at it, first, with PyPI behind it for every
dependency. pypiserver runs with its fallback off: a package it lacks is a 404, so the installers go on
to PyPI for it instead of following a redirect, and dodo-mcp itself can only come from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from typing_extensions import Self

from dodo_mcp import __version__

ROOT = Path(__file__).resolve().parent.parent
PYPI_SIMPLE = "https://pypi.org/simple/"
# python -m build makes an isolated environment and fetches hatchling into it: minutes on a slow network.
BUILD_TIMEOUT_S = 300
# How long a started index may take to answer its first request (it is in this process: well under 1 s).
START_TIMEOUT_S = 10
# How this machine trusts TLS (a company proxy's CA, say): passed on to pip, which has no other way to
# learn it once its config files are ignored. Nothing in them says what to install or from where.
TLS_TRUST_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE")


@dataclass(frozen=True)
class BuiltDists:
    """The sdist and the wheel of this checkout, in `directory` and nothing else."""

    directory: Path
    wheel: Path
    sdist: Path


def build_dists(outdir: Path) -> BuiltDists:
    """`python -m build --sdist --wheel` of the checkout into `outdir`; a failure shows build's output."""
    command = [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(outdir), str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"python -m build failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    dists = BuiltDists(
        directory=outdir,
        wheel=outdir / f"dodo_mcp-{__version__}-py3-none-any.whl",
        sdist=outdir / f"dodo_mcp-{__version__}.tar.gz",
    )
    made = sorted(path.name for path in outdir.iterdir())
    if made != sorted([dists.wheel.name, dists.sdist.name]):
        raise RuntimeError(f"python -m build made {made}, not the sdist and wheel of dodo-mcp {__version__}")
    return dists


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # uv asks for many packages at once; one thread per request keeps it from waiting on a 404 in line.
    daemon_threads = True


class _RecordingHandler(WSGIRequestHandler):
    """Records each request as "METHOD PATH STATUS" on the index instead of printing it to stderr."""

    server: Any

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.requests.append(f"{self.command} {self.path} {code}")

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it `format`
        pass


class PackageIndex:
    """`with PackageIndex(dists) as index:` serves `dists` at `index.url` (a PEP 503 simple index).

    `index.requests` lists every request served, oldest first, as "GET /packages/NAME 200".
    """

    def __init__(self, dists: BuiltDists) -> None:
        self.dists = dists
        with warnings.catch_warnings():
            # pypiserver's vendored bottle imports cgi, deprecated since Python 3.11 (it copes without it on 3.13).
            warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
            import pypiserver

        app = pypiserver.app(roots=[str(dists.directory)], disable_fallback=True)
        # Port 0: the kernel picks a free port and the socket is listening before anyone is told of it.
        self._server = make_server(
            "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_RecordingHandler
        )
        self.requests: list[str] = []
        self._server.requests = self.requests  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_port}/simple/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="package-index", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        try:
            self._check_it_lists_the_dists()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(START_TIMEOUT_S)

    def _check_it_lists_the_dists(self) -> None:
        """The index answers, and its page for dodo-mcp links the wheel and the sdist, as installers read it."""
        with urllib.request.urlopen(f"{self.url}dodo-mcp/", timeout=START_TIMEOUT_S) as response:
            page = response.read().decode("utf-8")
        missing = [dist.name for dist in (self.dists.wheel, self.dists.sdist) if f">{dist.name}</a>" not in page]
        if missing:
            raise RuntimeError(f"the package index at {self.url} does not list {missing}:\n{page}")

    def served(self, dist: Path) -> int:
        """How many times the index has served the file `dist` (a 200 for /packages/NAME)."""
        return self.requests.count(f"GET /packages/{dist.name} 200")


def uv_environment(index: PackageIndex, cache: Path) -> dict[str, str]:
    """uv's settings for a first contact: `index` before PyPI, a cache of the test's own, nothing else.

    uv's default strategy takes each package from the first index that has it, so dodo-mcp comes from
    `index` and every dependency (a 404 there) from PyPI. A fresh `cache` means no dodo-mcp cached by an
    earlier run can answer instead of the one just built.
    """
    return {
        "UV_INDEX": index.url,
        "UV_DEFAULT_INDEX": PYPI_SIMPLE,
        "UV_CACHE_DIR": str(cache),
        # A developer's uv.toml (another index, a pinned Python) must not change what the test proves.
        "UV_NO_CONFIG": "1",
        # Trust the system's certificate store, as pip does, and never download a Python of uv's own:
        # the Python running the tests is the one under test.
        "UV_SYSTEM_CERTS": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": sys.executable,
    }


def pip_environment(index: PackageIndex, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip's settings for a first contact: `index` and PyPI, and none of this machine's pip config files.

    pip has no index priority, so dodo-mcp comes from `index` only because PyPI has none: `PackageIndex`
    records each file it serves, and the test checks that the wheel was among them.
    """
    env = {name: value for name, value in (environ or os.environ).items() if name in TLS_TRUST_VARIABLES}
    env.update(
        {
            # A machine's pip.conf may add mirrors or find-links; the test installs from exactly two indexes.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": index.url,
            "PIP_EXTRA_INDEX_URL": PYPI_SIMPLE,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    )
    return env
