"""A small OAuth 2.1 authorization server for the tests, run as its own process on 127.0.0.1.

Built on joserfc (the JOSE library dodo-mcp verifies with) and starlette: RFC 8414 metadata, a JWKS,
and a token endpoint for the client credentials grant (client_secret_basic or _post) that issues
RS256 JWT access tokens (RFC 9068 claims, `aud` the RFC 8707 `resource` asked for). For the tests it
also mints tokens that are wrong on purpose (/test/mint), rotates its signing key (/test/rotate) and
counts what it served (/test/stats).

    python -m tests.oauth_server CLIENTS_JSON [--openid-only]   # prints "issuer http://127.0.0.1:PORT" once it listens

--openid-only serves its metadata only where OpenID Connect discovery looks (/.well-known/openid-configuration),
not at RFC 8414's well-known path, as some identity providers do.

CLIENTS_JSON maps each client id to its secret and the scopes it may get: {"id": {"secret": ..., "scopes": [...]}}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_LIFETIME_S = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


OPENID_ONLY = "--openid-only"


@dataclass
class AuthorizationServer:
    issuer: str
    clients: dict[str, dict[str, Any]]
    # Metadata only at OpenID Connect's discovery path, none at RFC 8414's.
    openid_only: bool = False
    key: RSAKey = field(default_factory=lambda: _new_key())
    stats: dict[str, Any] = field(default_factory=lambda: {"jwks_fetches": 0, "tokens_issued": 0, "token_requests": []})

    def claims(self, subject: str, audience: str | None, scopes: list[str], **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "client_id": subject,
            "aud": audience,
            "scope": " ".join(scopes),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_S,
            "jti": secrets.token_hex(8),
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], how: str = "current", header: dict[str, Any] | None = None) -> str:
        """A JWT of `claims`: signed by the current key, by a key the JWKS never had, with `none`, or HS256
        keyed with the public key's PEM (the HS/RS confusion)."""
        if how == "current":
            return jwt.encode({"alg": "RS256", "kid": self.key.kid, **(header or {})}, claims, self.key)
        if how == "stranger":
            stranger = _new_key()
            return jwt.encode({"alg": "RS256", "kid": stranger.kid, **(header or {})}, claims, stranger)
        encoded = _b64(json.dumps(claims).encode())
        if how == "none":
            return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{encoded}."
        if how == "hs256-public":
            head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.key.kid}).encode())
            signed = f"{head}.{encoded}".encode()
            pem = self.key.as_pem(private=False)
            return f"{head}.{encoded}.{_b64(hmac.new(pem, signed, hashlib.sha256).digest())}"
        raise ValueError(how)

    def app(self) -> Starlette:
        async def metadata(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "response_types_supported": ["code"],
                    "scopes_supported": ["dodo:read", "dodo:write"],
                }
            )

        async def jwks(request: Request) -> JSONResponse:
            self.stats["jwks_fetches"] += 1
            return JSONResponse(KeySet([self.key]).as_dict(private=False))

        async def token(request: Request) -> JSONResponse:
            form = dict(await request.form())
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = request.headers.get("authorization", "")
            if basic.lower().startswith("basic "):
                from urllib.parse import unquote

                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
                client_id, secret = unquote(client_id), unquote(secret)
            client = self.clients.get(str(client_id))
            if client is None or not hmac.compare_digest(str(secret), client["secret"]):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            asked = str(form.get("scope") or "").split()
            scopes = [s for s in asked if s in client["scopes"]] if asked else list(client["scopes"])
            resource = form.get("resource")
            self.stats["token_requests"].append({"client_id": client_id, "scope": asked, "resource": resource})
            self.stats["tokens_issued"] += 1
            claims = self.claims(str(client_id), str(resource) if resource else None, scopes)
            return JSONResponse(
                {
                    "access_token": self.sign(claims),
                    "token_type": "Bearer",
                    "expires_in": TOKEN_LIFETIME_S,
                    "scope": " ".join(scopes),
                }
            )

        async def mint(request: Request) -> JSONResponse:
            asked = await request.json()
            claims = self.claims(
                asked.get("subject", "minted"),
                asked.get("audience"),
                asked.get("scopes", []),
                **asked.get("claims", {}),
            )
            return JSONResponse({"token": self.sign(claims, asked.get("sign", "current"), asked.get("header"))})

        async def rotate(request: Request) -> JSONResponse:
            self.key = _new_key()
            return JSONResponse({"kid": self.key.kid})

        async def stats(request: Request) -> JSONResponse:
            return JSONResponse(self.stats)

        return Starlette(
            routes=[
                Route(
                    "/.well-known/openid-configuration"
                    if self.openid_only
                    else "/.well-known/oauth-authorization-server",
                    metadata,
                ),
                Route("/jwks", jwks),
                Route("/token", token, methods=["POST"]),
                Route("/test/mint", mint, methods=["POST"]),
                Route("/test/rotate", rotate, methods=["POST"]),
                Route("/test/stats", stats),
            ]
        )


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(6), "use": "sig", "alg": "RS256"})


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for a server whose URL must be known before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def authorization_server(clients: dict[str, dict[str, Any]], *, openid_only: bool = False) -> Iterator[str]:
    """Run this module as a process; yields its issuer URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oauth_server", json.dumps(clients), *([OPENID_ONLY] if openid_only else [])],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("issuer "):
            raise RuntimeError(f"the authorization server did not start: {line!r}")
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    import uvicorn

    clients = json.loads(sys.argv[1])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # Listening before the line is printed: a client that connects at once waits in the backlog.
    sock.listen(64)
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = AuthorizationServer(issuer, clients, openid_only=OPENID_ONLY in sys.argv[2:])
    print(f"issuer {issuer}", flush=True)
    config = uvicorn.Config(server.app(), log_config=None, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
