"""--auth oauth: dodo-mcp as an OAuth 2.1 resource server, against a real authorization server process.

tests/oauth_server.py runs on 127.0.0.1 and issues RS256 JWTs by the client credentials grant; dodo-mcp
runs as its own process too, over Streamable HTTP on the sandbox. Every answer is checked exactly:
status, body, WWW-Authenticate, and the requests the authorization server saw.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from tests.conftest import CAPTURED, counts, ingest_counts, server_env
from tests.oauth_server import authorization_server, free_port

pytestmark = pytest.mark.anyio

CLIENTS: dict[str, dict[str, Any]] = {
    "reader": {"secret": "reader-secret-0123456789", "scopes": ["dodo:read"]},
    "writer": {"secret": "writer-secret-0123456789", "scopes": ["dodo:write"]},
    "agent": {"secret": "agent-secret-0123456789", "scopes": ["dodo:read", "dodo:write"]},
    "nobody": {"secret": "nobody-secret-0123456789", "scopes": []},
}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
EVENT = {"event_id": "oauth-1", "customer_id": "cus_oauth", "event_name": "api_request"}


class Served:
    def __init__(self, url: str, issuer: str, errlog: Any) -> None:
        self.url = url
        self.mcp = f"{url}/mcp"
        self.issuer = issuer
        self._errlog = errlog

    @property
    def stderr(self) -> str:
        self._errlog.seek(0)
        return str(self._errlog.read())


@contextmanager
def serving_oauth(issuer: str, *args: str) -> Iterator[Served]:
    """dodo-mcp --auth oauth on a free port, its audience the URL of its own /mcp."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "dodo_mcp", "--transport", "streamable-http", "--sandbox"]
    command += ["--sandbox-db", ":memory:", "--port", str(port), "--log-level", "DEBUG"]
    command += ["--auth", "oauth", "--oauth-issuer", issuer, "--oauth-audience", f"{url}/mcp", *args]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog, env=server_env(None)
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                errlog.seek(0)
                if re.search(
                    r"serving MCP over streamable-http at http://127\.0\.0\.1:\d+/mcp .*auth OAuth", errlog.read()
                ):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    errlog.seek(0)
                    raise RuntimeError(f"dodo-mcp did not start: {errlog.read()}")
                time.sleep(0.05)
            yield Served(url, issuer, errlog)
        finally:
            process.terminate()
            process.wait(20)
            errlog.seek(0)
            CAPTURED.append(errlog.read())


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with authorization_server(CLIENTS) as url:
        yield url


@pytest.fixture(scope="module")
def served(issuer: str) -> Iterator[Served]:
    with serving_oauth(issuer) as served:
        yield served


def client_token(served: Served, client: str, scope: str | None = None) -> str:
    """An access token for `client` by the client credentials grant, for dodo-mcp's audience."""
    data = {"grant_type": "client_credentials", "resource": served.mcp, **({"scope": scope} if scope else {})}
    answer = httpx2.post(f"{served.issuer}/token", data=data, auth=(client, CLIENTS[client]["secret"]), timeout=10)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def minted(issuer: str, **asked: Any) -> str:
    answer = httpx2.post(f"{issuer}/test/mint", json=asked, timeout=10)
    assert answer.status_code == 200
    token: str = answer.json()["token"]
    return token


def stats(issuer: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx2.get(f"{issuer}/test/stats", timeout=10).json()
    return answer


def post(served: Served, token: str | None, message: dict[str, Any], **headers: str) -> httpx2.Response:
    auth = {"authorization": f"Bearer {token}"} if token is not None else {}
    return httpx2.post(served.mcp, json=message, headers={**HEADERS, **auth, **headers}, timeout=20)


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


def metadata_url(served: Served) -> str:
    return f"{served.url}/.well-known/oauth-protected-resource/mcp"


def challenge(served: Served, error: str, description: str, scope: str | None = None) -> str:
    scoped = f', scope="{scope}"' if scope else ""
    return (
        f'Bearer error="{error}", error_description="{description}"{scoped}, resource_metadata="{metadata_url(served)}"'
    )


@asynccontextmanager
async def bearer_client(served: Served, token: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(served.mcp, http_client=http)) as client,
    ):
        yield client


def refused_with(served: Served, token: str | None, description: str) -> None:
    answer = post(served, token, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    error = "invalid_token"
    assert (answer.status_code, answer.json()) == (401, {"error": error, "error_description": description})
    assert answer.headers["www-authenticate"] == challenge(served, error, description)


def test_the_protected_resource_metadata_document(served: Served) -> None:
    expected = {
        "resource": served.mcp,
        "authorization_servers": [served.issuer],
        "scopes_supported": ["dodo:read", "dodo:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "dodo-mcp",
    }
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        answer = httpx2.get(served.url + path, timeout=10)
        assert answer.status_code == 200
        assert {key: value for key, value in answer.json().items() if value is not None} == expected
    # The 401 says where it is.
    missing = post(served, None, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == challenge(served, "invalid_token", "Authentication required")
    # /healthz stays open; /metrics needs a token with either scope, as MCP does.
    assert httpx2.get(f"{served.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx2.get(f"{served.url}/metrics", timeout=10).status_code == 401
    for client, status in (("nobody", 403), ("writer", 200)):
        headers = {"Authorization": f"Bearer {client_token(served, client)}"}
        assert httpx2.get(f"{served.url}/metrics", headers=headers, timeout=10).status_code == status


async def test_a_read_token_reads_and_may_not_ingest(served: Served) -> None:
    token = client_token(served, "reader")
    async with bearer_client(served, token) as client:
        listed = await client.call_tool("list_events", {})
        assert not listed.is_error
    refused = post(served, token, tool_call("ingest_events", {"events": [EVENT]}))
    description = (
        f"ingest_events needs the dodo:write scope; this token has dodo:read: get a token with it from {served.issuer}"
    )
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "insufficient_scope", "error_description": description},
    )
    assert refused.headers["www-authenticate"] == challenge(served, "insufficient_scope", description, "dodo:write")


async def test_a_write_token_ingests_and_may_not_read(served: Served) -> None:
    token = client_token(served, "writer")
    async with bearer_client(served, token) as client:
        tools = await client.list_tools()
        assert "ingest_events" in [tool.name for tool in tools.tools]
        ingested = await client.call_tool("ingest_events", {"events": [{**EVENT, "event_id": "oauth-w"}]})
        assert counts(ingested.structured_content) == ingest_counts(submitted=1, ingested=1)
    refused = post(served, token, tool_call("list_events", {}))
    description = (
        f"list_events needs the dodo:read scope; this token has dodo:write: get a token with it from {served.issuer}"
    )
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "insufficient_scope", "error_description": description},
    )
    assert refused.headers["www-authenticate"] == challenge(served, "insufficient_scope", description, "dodo:read")


async def test_a_token_with_both_scopes_does_everything(served: Served) -> None:
    token = client_token(served, "agent")
    async with bearer_client(served, token) as client:
        ingested = await client.call_tool("ingest_events", {"events": [{**EVENT, "event_id": "oauth-a"}]})
        listed = await client.call_tool("list_events", {"customer_id": "cus_oauth"})
    assert counts(ingested.structured_content) == ingest_counts(submitted=1, ingested=1)
    assert listed.structured_content is not None
    assert "oauth-a" in [item["event_id"] for item in listed.structured_content["items"]]


def test_a_token_without_a_dodo_scope_opens_nothing(served: Served) -> None:
    token = client_token(served, "nobody")
    refused = post(served, token, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    description = (
        "this server needs the dodo:read or dodo:write scope; this token has no scope: "
        f"get a token with it from {served.issuer}"
    )
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "insufficient_scope", "error_description": description},
    )
    assert refused.headers["www-authenticate"] == challenge(
        served, "insufficient_scope", description, "dodo:read dodo:write"
    )


@pytest.mark.parametrize(
    ("case", "asked", "description"),
    [
        ("expired", {"claims": {"exp": -120}}, "the token has expired: get a new one"),
        ("not yet valid", {"claims": {"nbf": 120}}, "the token is not valid yet (its nbf is in the future)"),
        ("wrong audience", {"audience": "https://other.example/mcp"}, "AUDIENCE"),
        ("wrong issuer", {"claims": {"iss": "https://evil.example"}}, "ISSUER"),
        (
            "alg none",
            {"sign": "none"},
            "the token's algorithm 'none' is not accepted: only RS256, RS384, RS512, PS256, PS384, PS512, ES256, "
            "ES384, ES512, EdDSA",
        ),
        (
            "HS256 keyed with the public key",
            {"sign": "hs256-public"},
            "the token's algorithm 'HS256' is not accepted: only RS256, RS384, RS512, PS256, PS384, PS512, ES256, "
            "ES384, ES512, EdDSA",
        ),
        ("no subject", {"claims": {"sub": None}}, "the token has no sub claim"),
    ],
)
def test_a_bad_token_is_refused_and_says_why(
    served: Served, case: str, asked: dict[str, Any], description: str
) -> None:
    now = int(time.time())
    claims = {name: now + value if name in ("exp", "nbf") else value for name, value in asked.get("claims", {}).items()}
    token = minted(served.issuer, **{"audience": served.mcp, "scopes": ["dodo:read"], **asked, "claims": claims})
    description = description.replace(
        "AUDIENCE", f"the token is not for this server: its audience must be {served.mcp}"
    ).replace("ISSUER", f"the token is not from this server's issuer {served.issuer}")
    refused_with(served, token, description)
    assert token not in served.stderr


def test_a_token_that_is_not_a_jwt(served: Served) -> None:
    refused_with(served, "opaque-0123456789", "the bearer token is not a JWT (a signed JWS in compact form)")


def test_an_unknown_kid_refreshes_the_keys_once_then_is_refused(issuer: str) -> None:
    with serving_oauth(issuer) as served:
        good = minted(issuer, audience=served.mcp, scopes=["dodo:read"])
        assert post(served, good, INITIALIZE).status_code == 200
        fetched = stats(issuer)["jwks_fetches"]
        stranger = minted(issuer, audience=served.mcp, scopes=["dodo:read"], sign="stranger")
        description = "the token is signed with a key the issuer does not publish (unknown kid)"
        refused_with(served, stranger, description)
        assert stats(issuer)["jwks_fetches"] == fetched + 1
        # Not refreshed again for the next unknown kid: a flood of made-up kids is no flood of JWKS requests.
        refused_with(served, minted(issuer, audience=served.mcp, scopes=["dodo:read"], sign="stranger"), description)
        assert stats(issuer)["jwks_fetches"] == fetched + 1


def test_a_rotated_key_is_picked_up_and_the_retired_one_refused() -> None:
    with authorization_server(CLIENTS) as issuer, serving_oauth(issuer) as served:
        before = client_token(served, "reader")
        assert post(served, before, INITIALIZE).status_code == 200
        assert stats(issuer)["jwks_fetches"] == 1
        httpx2.post(f"{issuer}/test/rotate", timeout=10)
        after = client_token(served, "reader")
        assert post(served, after, INITIALIZE).status_code == 200
        assert stats(issuer)["jwks_fetches"] == 2
        refused_with(served, before, "the token is signed with a key the issuer does not publish (unknown kid)")


class MemoryTokens(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def test_the_sdks_client_finds_the_metadata_from_the_401_and_connects(served: Served) -> None:
    before = stats(served.issuer)
    storage = MemoryTokens()
    provider = ClientCredentialsOAuthProvider(
        server_url=served.mcp,
        storage=storage,
        client_id="agent",
        client_secret=CLIENTS["agent"]["secret"],
        issuer=served.issuer,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        Client(streamable_http_client(served.mcp, http_client=http)) as client,
    ):
        ingested = await client.call_tool("ingest_events", {"events": [{**EVENT, "event_id": "oauth-sdk"}]})
        retrieved = await client.call_tool("retrieve_event", {"event_id": "oauth-sdk"})
    assert counts(ingested.structured_content) == ingest_counts(submitted=1, ingested=1)
    assert retrieved.structured_content is not None and retrieved.structured_content["event_id"] == "oauth-sdk"
    after = stats(served.issuer)
    # One token, asked for this server (RFC 8707) with the scopes the metadata lists.
    assert after["tokens_issued"] == before["tokens_issued"] + 1
    assert after["token_requests"][-1] == {
        "client_id": "agent",
        "scope": ["dodo:read", "dodo:write"],
        "resource": served.mcp,
    }
    assert storage.tokens is not None
    assert storage.tokens.access_token not in served.stderr


async def test_a_session_belongs_to_the_tokens_subject(served: Served) -> None:
    first = client_token(served, "agent")
    again = client_token(served, "agent")  # a refreshed token of the same client: same subject
    other = client_token(served, "reader")
    opened = post(served, first, INITIALIZE)
    assert opened.status_code == 200
    session = opened.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    assert (
        post(served, again, ping, **{"mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}).status_code
        == 200
    )
    stolen = post(served, other, ping, **{"mcp-session-id": session, "mcp-protocol-version": "2025-06-18"})
    assert stolen.status_code == 404


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (
            ["--auth", "oauth"],
            {},
            "dodo-mcp: --auth oauth needs the issuer and the audience: --oauth-issuer URL (or DODO_MCP_OAUTH_ISSUER) "
            "and --oauth-audience URL (or DODO_MCP_OAUTH_AUDIENCE), this server's public MCP URL",
        ),
        (
            [
                "--auth",
                "oauth",
                "--oauth-issuer",
                "http://sso.example.com",
                "--oauth-audience",
                "https://m.example/mcp",
            ],
            {},
            "dodo-mcp: the OAuth issuer must use https (plain http is for loopback only): 'http://sso.example.com'",
        ),
        (
            [
                "--auth",
                "oauth",
                "--oauth-issuer",
                "https://sso.example.com",
                "--oauth-audience",
                "https://m.example/mcp",
            ],
            {"DODO_MCP_AUTH_TOKEN": "a-long-enough-token-0123456789"},
            "dodo-mcp: --auth oauth and a bearer token exclude each other: unset DODO_MCP_AUTH_TOKEN",
        ),
        ([], {"DODO_MCP_AUTH": "saml"}, "dodo-mcp: DODO_MCP_AUTH must be one of token, oauth, not 'saml'"),
    ],
)
def test_oauth_settings_that_cannot_start_say_why_in_one_line(args: list[str], env: dict[str, str], said: str) -> None:
    command = [sys.executable, "-m", "dodo_mcp", "--transport", "streamable-http", "--host", "0.0.0.0", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=server_env(None, **env), timeout=30)
    assert (done.returncode, done.stderr) == (2, said + "\n")


def test_an_issuer_with_only_openid_discovery_is_found_there() -> None:
    # No RFC 8414 document (a 404 there), the metadata at /.well-known/openid-configuration instead.
    with authorization_server(CLIENTS, openid_only=True) as openid_issuer, serving_oauth(openid_issuer) as served:
        assert httpx2.get(f"{openid_issuer}/.well-known/oauth-authorization-server", timeout=10).status_code == 404
        answer = post(served, client_token(served, "reader"), INITIALIZE)
        assert answer.status_code == 200, answer.text
        assert stats(openid_issuer)["jwks_fetches"] == 1
        assert f"fetched 1 signing key(s) from {openid_issuer}/jwks" in served.stderr


def test_keys_that_cannot_be_fetched_answer_503_and_the_server_stays_up(issuer: str) -> None:
    # A JWKS URL where nothing listens: the token cannot be checked, which is the issuer's outage, not the caller's.
    with serving_oauth(issuer, "--oauth-jwks-url", f"http://127.0.0.1:{free_port()}/jwks") as served:
        token = minted(issuer, audience=served.mcp, scopes=["dodo:read"])
        answers = [post(served, token, INITIALIZE) for _ in range(2)]
        alive = httpx2.get(f"{served.url}/healthz", headers={"host": "localhost"}, timeout=10)
        stderr = served.stderr
    body = {
        "error": "temporarily_unavailable",
        "error_description": "the issuer's signing keys cannot be fetched right now; try again shortly",
    }
    assert [(a.status_code, a.json(), a.headers.get("retry-after")) for a in answers] == [(503, body, "5")] * 2
    assert alive.status_code == 200
    assert "cannot fetch the OAuth issuer's signing keys" in stderr
    assert token not in stderr
