"""OAuth 2.1 resource server: verify a JWT access token against the issuer's keys, and say who it names.

SDK-free (dodo_mcp.mcp_sdk adapts `JwtVerifier` to the SDK's TokenVerifier, and the HTTP transport wires
the SDK's auth middleware around the app). What a token must be to pass:

- a JWS whose `alg` is on the allow-list: asymmetric algorithms only, so `none` and an HS256 token
  "signed" with the issuer's public key (the HS/RS confusion) are refused before any key is looked at;
- signed by a key of the issuer's JWKS whose `kid` it names. The key set is fetched once and kept; an
  unknown `kid` refreshes it once (a rotation), and a refresh that still lacks it holds off further
  refreshes for a while, so a flood of made-up ids cannot turn into a flood of JWKS requests;
- `iss` exactly the configured issuer, `aud` naming the audience (RFC 8707: this server's resource URL),
  and `exp` (required) and `nbf` with a small leeway for clock skew.

The JWKS URL is configured, or read from the issuer's metadata (RFC 8414, then OpenID Connect discovery).
No token, key or secret is ever logged or put in an error: a refusal says what was wrong, not what was sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from joserfc import jws, jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

logger = logging.getLogger(__name__)

# The scopes dodo-mcp knows: reading (every tool but the writes) and writing (ingest).
SCOPE_READ = "dodo:read"
SCOPE_WRITE = "dodo:write"
SCOPES = (SCOPE_READ, SCOPE_WRITE)
# Asymmetric signatures only: a shared-secret (HS*) algorithm would let anyone holding the public key sign.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Clock skew tolerated on exp and nbf, in seconds.
LEEWAY_S = 30
# After a refresh that did not find a token's kid, no refresh for an unknown kid for this long.
UNKNOWN_KID_COOLDOWN_S = 30.0
# How long a fetched key set is trusted before the next token refreshes it anyway (keys are also
# retired, not only added).
JWKS_MAX_AGE_S = 3600.0
FETCH_TIMEOUT_S = 5.0


class TokenRefused(Exception):
    """The token is not one this server accepts; the text says why, fit for an RFC 6750 error_description."""


class KeysUnavailable(TokenRefused):
    """The issuer's keys could not be fetched: the token cannot be checked now (the operator sees why in the log)."""


@dataclass(frozen=True)
class OAuthSettings:
    """Which tokens the server accepts: from `issuer`, for `audience`, signed by a key at `jwks_url` (or discovered)."""

    issuer: str
    # This server's resource identifier (RFC 8707): its public MCP URL, e.g. https://mcp.example.com/mcp.
    audience: str
    jwks_url: str | None = None
    # The tools that need SCOPE_WRITE; every other tool needs SCOPE_READ.
    write_tools: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class VerifiedToken:
    """What a valid token says: whose it is, for which client, with which scopes, until when."""

    issuer: str
    subject: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: int
    audience: str


def check_oauth_settings(settings: OAuthSettings) -> str | None:
    """What is wrong with `settings`, in one line; None when nothing is."""
    for name, url in (("issuer", settings.issuer), ("audience", settings.audience), ("JWKS URL", settings.jwks_url)):
        if url is None:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"the OAuth {name} must be an http(s) URL, not {url!r}"
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return f"the OAuth {name} must use https (plain http is for loopback only): {url!r}"
    return None


def discovery_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: RFC 8414 (well-known before the path), then OpenID Connect (after it)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


class IssuerKeys:
    """The issuer's signing keys, fetched on first use, refreshed on an unknown kid (at most once per cooldown)."""

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._refused_until = 0.0
        self._jwks_url = settings.jwks_url
        self._lock = anyio.Lock()

    async def key_set(self, kid: str | None) -> KeySet:
        """A key set holding `kid` when the issuer has it (refreshed once if it did not), else the current one."""
        async with self._lock:
            now = self._clock()
            stale = self._keys is None or now - self._fetched_at > JWKS_MAX_AGE_S
            if stale or (not self._holds(kid) and now >= self._refused_until):
                await self._refresh()
                if not self._holds(kid):
                    self._refused_until = self._clock() + UNKNOWN_KID_COOLDOWN_S
            assert self._keys is not None
            return self._keys

    def _holds(self, kid: str | None) -> bool:
        return self._keys is not None and any(key.kid == kid for key in self._keys)

    async def _refresh(self) -> None:
        try:
            async with httpx2.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT_S) as http:
                url = self._jwks_url or await self._discover(http)
                self._jwks_url = url
                self._keys = KeySet.import_key_set(await _fetch_json(http, url, "the JWKS"))  # type: ignore[arg-type]
        except (httpx2.HTTPError, ValueError, JoseError) as exc:
            logger.warning("cannot fetch the OAuth issuer's signing keys: %s", exc)
            if self._keys is None:
                raise KeysUnavailable(
                    "the issuer's signing keys cannot be fetched right now; try again shortly"
                ) from None
            return
        self._fetched_at = self._clock()
        logger.info("fetched %d signing key(s) from %s", len(self._keys.keys), self._jwks_url)

    async def _discover(self, http: httpx2.AsyncClient) -> str:
        problems = []
        for url in discovery_urls(self._settings.issuer):
            try:
                metadata = await _fetch_json(http, url, "issuer metadata")
            except (httpx2.HTTPError, ValueError) as exc:
                problems.append(str(exc))
                continue
            if metadata.get("issuer") != self._settings.issuer:
                problems.append(f"{url} names the issuer {metadata.get('issuer')!r}, not {self._settings.issuer!r}")
                continue
            jwks_uri = metadata.get("jwks_uri")
            if isinstance(jwks_uri, str) and jwks_uri:
                return jwks_uri
            problems.append(f"{url} has no jwks_uri")
        raise ValueError("no usable issuer metadata: " + "; ".join(problems))


async def _fetch_json(http: httpx2.AsyncClient, url: str, what: str) -> Mapping[str, Any]:
    response = await http.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise ValueError(f"{what} at {url} answered {response.status_code}")
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{what} at {url} is not a JSON object")
    return body


class JwtVerifier:
    """Verify JWT access tokens for one issuer and audience (see the module's docstring for the rules)."""

    def __init__(
        self, settings: OAuthSettings, keys: IssuerKeys | None = None, *, now: Callable[[], float] = time.time
    ):
        self.settings = settings
        self._keys = keys or IssuerKeys(settings)
        self._now = now

    async def verify(self, token: str) -> VerifiedToken:
        """The token's claims when it passes every check; TokenRefused saying which check failed otherwise."""
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError):
            raise TokenRefused("the bearer token is not a JWT (a signed JWS in compact form)") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise TokenRefused(
                f"the token's algorithm {str(algorithm)[:20]!r} is not accepted: only {', '.join(ALLOWED_ALGORITHMS)}"
            )
        kid = header.get("kid")
        keys = await self._keys.key_set(kid if isinstance(kid, str) else None)
        try:
            decoded = jwt.decode(token, keys, algorithms=[algorithm])
        except JoseError as exc:
            if exc.error == "invalid_key_id":
                raise TokenRefused("the token is signed with a key the issuer does not publish (unknown kid)") from None
            raise TokenRefused("the token's signature does not verify against the issuer's keys") from None
        return self._checked(decoded.claims)

    def _checked(self, claims: Mapping[str, Any]) -> VerifiedToken:
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()),
            leeway=LEEWAY_S,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)  # type: ignore[arg-type]
        except ExpiredTokenError:
            raise TokenRefused("the token has expired: get a new one") from None
        except MissingClaimError as exc:
            raise TokenRefused(f"the token has no {exc.claim} claim") from None
        except InvalidClaimError as exc:
            claim = exc.claim
            if claim in ("nbf", "iat"):
                raise TokenRefused(f"the token is not valid yet (its {claim} is in the future)") from None
            if claim == "aud":
                raise TokenRefused(
                    f"the token is not for this server: its audience must be {self.settings.audience}"
                ) from None
            if claim == "iss":
                raise TokenRefused(f"the token is not from this server's issuer {self.settings.issuer}") from None
            raise TokenRefused(f"the token's {claim} claim is not valid") from None
        except JoseError:
            raise TokenRefused("the token's claims are not valid") from None
        return VerifiedToken(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            client_id=str(claims.get("client_id") or claims.get("azp") or claims["sub"]),
            scopes=token_scopes(claims),
            expires_at=int(claims["exp"]),
            audience=self.settings.audience,
        )


def token_scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes a token grants: RFC 9068's space-separated `scope`, or the `scp` list some providers use."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return tuple(scope.split())
    listed = claims.get("scp")
    if isinstance(listed, list):
        return tuple(str(item) for item in listed)
    if isinstance(listed, str):
        return tuple(listed.split())
    return ()


def needed_scope(method: str | None, tool: str | None, write_tools: Collection[str]) -> str | None:
    """The scope a request needs beyond any of SCOPES: SCOPE_WRITE for a write tool, SCOPE_READ for another
    tool; None for what is not a tool call (the handshake, tools/list, a stream), which any of SCOPES opens."""
    if method != "tools/call":
        return None
    return SCOPE_WRITE if tool in write_tools else SCOPE_READ
