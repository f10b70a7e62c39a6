"""OAuth over HTTP: the app behind the SDK's resource-server parts, and the scope each request needs.

`protect` puts the SDK's bearer backend (with dodo_mcp.oauth's JwtVerifier), RequireAuthMiddleware and
the RFC 9728 metadata document in front of the app (dodo_mcp.mcp_sdk builds them). `ScopeGate` sits
behind the JSON-RPC parser (it reads the message WellFormedMessages left in the scope) and answers 403
`insufficient_scope`, naming the scope to get, when the token lacks what the request needs:
SCOPE_WRITE for a write tool, SCOPE_READ for any other tool, and either one for everything else.
"""

from __future__ import annotations

from collections.abc import Collection

from mcp_types import JSONRPCRequest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dodo_mcp.mcp_sdk import PROTECTED_RESOURCE_PATH, oauth_resource_server, protected_resource_metadata_url
from dodo_mcp.oauth import SCOPES, JwtVerifier, OAuthSettings, needed_scope


def protect(app: ASGIApp, settings: OAuthSettings, open_paths: Collection[str]) -> ASGIApp:
    """`app` with every request but `open_paths` and the metadata document needing a valid access token."""
    verifier = JwtVerifier(settings)
    return oauth_resource_server(
        app,
        verifier.verify,
        resource=settings.audience,
        issuer=settings.issuer,
        scopes=SCOPES,
        open_paths=open_paths,
    )


def metadata_paths(settings: OAuthSettings) -> tuple[str, str]:
    """The paths the protected-resource metadata is served at: the bare well-known one, and the resource's own."""
    url = protected_resource_metadata_url(settings.audience)
    return PROTECTED_RESOURCE_PATH, "/" + url.split("/", 3)[3]


class ScopeGate:
    """Refuse, with 403 insufficient_scope, a request whose token lacks the scope it needs (see the module)."""

    def __init__(self, app: ASGIApp, settings: OAuthSettings, message_key: str, open_paths: Collection[str]) -> None:
        self.app = app
        self._settings = settings
        self._message_key = message_key
        self._open = frozenset(open_paths) | frozenset(metadata_paths(settings))
        self._metadata_url = protected_resource_metadata_url(settings.audience)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        credentials = scope.get("auth")
        granted = frozenset(getattr(credentials, "scopes", ()) or ())
        message = scope.get(self._message_key)
        method = message.method if isinstance(message, JSONRPCRequest) else None
        params = message.params if isinstance(message, JSONRPCRequest) else None
        tool = params.get("name") if isinstance(params, dict) else None
        needed = needed_scope(method, tool if isinstance(tool, str) else None, self._settings.write_tools)
        what = f"{tool}" if needed is not None and isinstance(tool, str) else "this server"
        if needed is None and not granted & set(SCOPES):
            missing = " ".join(SCOPES)
            description = f"{what} needs the {SCOPES[0]} or {SCOPES[1]} scope"
        elif needed is not None and needed not in granted:
            missing = needed
            description = f"{what} needs the {needed} scope"
        else:
            await self.app(scope, receive, send)
            return
        has = " ".join(sorted(granted)) or "no scope"
        description += f"; this token has {has}: get a token with it from {self._settings.issuer}"
        await bearer_challenge(403, "insufficient_scope", description, self._metadata_url, missing)(
            scope, receive, send
        )


def bearer_challenge(
    status: int, error: str, description: str, metadata_url: str, scope: str | None = None
) -> Response:
    """An RFC 6750 error answer whose WWW-Authenticate names the protected-resource metadata (RFC 9728)."""
    said = description.replace('"', "'").replace("\\", "/")
    parts = [f'error="{error}"', f'error_description="{said}"']
    if scope is not None:
        parts.append(f'scope="{scope}"')
    parts.append(f'resource_metadata="{metadata_url}"')
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": "Bearer " + ", ".join(parts)},
    )
