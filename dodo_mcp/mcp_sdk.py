"""The one seam to the MCP SDK's internals: nothing else in dodo-mcp reaches past its documented surface.

What dodo-mcp needs that the SDK does not offer publicly, all here, so an SDK upgrade that moves
it breaks one module, loudly, and tests/test_architecture.py keeps it that way:

- `sdk_tool`: an SDK tool for one of our ToolDefinitions. MCPServer derives a tool's schemas from
  the function's signature; ours are the tools layer's models, made portable and lean, and the
  handler reads its raw arguments itself (the SDK would validate them first, with its own messages,
  and drop unknown ones). So the Tool is constructed here with its final schemas: never patched
  afterwards, since `Tool.output_schema` is a cached property and a patch after a read is lost.
- `SdkToolCall`: what a handler sees of a call (tools.call.ToolCall), read from the SDK's context.
- `run_server_loop`: the SDK's own server loop over a pair of message streams, for our lean stdio
  transport (MCPServer runs it only over the SDK's threaded stdio transport).
- `check_prompt_requests`: a prompts/get the server cannot answer is refused as invalid params, with
  the tools layer's words. MCPServer answers an unknown prompt or a missing argument with a bare
  'Internal server error' (code -32603, or 0 on the legacy loop) and logs a traceback.
- `advertise_what_is_served`: MCPServer registers handlers for tools, prompts and resources whatever
  it serves, and the SDK advertises a capability for every handler. A middleware (the SDK's own hook
  around initialization) drops each capability that has nothing registered, when a client asks.
- `serve_completions`: completion/complete answered by the tools layer's Completer. MCPServer's own
  `@completion()` decorator hands its function the reference, the argument and the context, but not
  the request, so not its headers; a per-client Dodo key travels in one. The handler is registered on
  the low-level server as that decorator does it, with the request context kept.
- `serve_client_logging`: MCPServer has no `logging/setLevel` handler, and the SDK sends every log
  message on a handshake-era connection whatever level the client asked for. The handler here keeps
  the level on the connection and SdkToolCall.log filters by it (which also advertises `logging`); on
  2026-07-28 connections the SDK itself sends only what each request's `_meta` log level opts into.
- `app_views`: the MCP Apps views as the SDK's own Apps extension (resources and the advertised extension);
  `sdk_tool` stamps each tool's `_meta.ui.resourceUri` itself, since Apps.tool would derive its schemas.
- `oauth_resource_server`: the SDK's OAuth resource-server parts (its bearer backend over our JWT
  verifier as a TokenVerifier, RequireAuthMiddleware, the auth contextvar and the RFC 9728 metadata
  route) around an app, with a refusal's reason in error_description instead of the SDK's bare text.
- `watch_requests`: a middleware (the SDK's hook, beside its own OpenTelemetry span) running every
  request inside the metrics' and traces' watch, told how a tool call ended.
- `open_sessions`: the Streamable HTTP sessions held, which the SDK's session manager keeps privately.
- Elicitation in both protocol eras (SdkToolCall.confirm): up to 2025-11-25 an `elicitation/create`
  request mid-call (ctx.elicit); from 2026-07-28 the multi-round tools/call, an InputRequiredResult
  whose question's digest rides the (SDK-sealed) request_state, so an answer counts only for the
  question the user was shown.
- `events_per_session`: the SDK gives every Streamable HTTP session the one event store, and names
  each session's streams by request id, so sessions would replay each other's events. Each session's
  transport gets its own view of the store instead (dodo_mcp.event_store.SessionEvents).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, get_args

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.apps import Apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.elicitation import AcceptedElicitation, DeclinedElicitation, render_elicitation_schema
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.tools.tool_manager import ToolManager
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import SessionMessage
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmptyResult,
    InputRequiredResult,
    LoggingLevel,
    PromptReference,
    SetLevelRequestParams,
    TextContent,
    ToolAnnotations,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dodo_mcp.tools.call import ConfirmForm, InputRequired, LogLevel, ToolDefinition, ToolResult
from dodo_mcp.tools.views import AppView

if TYPE_CHECKING:
    # Imported where used: joserfc (and cryptography) load only when a server verifies OAuth tokens.
    from dodo_mcp.oauth import VerifiedToken

    # Imported where used (serve_completions): the completer's module brings DodoClient and the models,
    # which the handshake does not need (a stdio server installs its tools after answering it).
    from dodo_mcp.tools.completion import CompletionAnswer, CompletionRequest

logger = logging.getLogger(__name__)

# RFC 9728's well-known path for a protected resource's metadata.
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"

# The 2026-07-28 revision deprecates MCP logging (SEP-2577) but still carries it, and the SDK warns on
# every log message sent; dodo-mcp serves logging on purpose, in both eras, so the warning is noise on stderr.
warnings.filterwarnings("ignore", message="The logging capability is deprecated", category=MCPDeprecationWarning)

# The logger name on every log message dodo-mcp sends its client.
CLIENT_LOGGER = "dodo-mcp"
# The RFC 5424 levels, least severe first, as the SDK's LoggingLevel lists them.
_LEVELS: tuple[str, ...] = get_args(LoggingLevel)
# Where a connection keeps the level its client set with logging/setLevel.
_LEVEL_STATE = "dodo_mcp.log_level"
# The key of our one question in a 2026-07-28 InputRequiredResult.
_CONFIRMATION = "confirm"


class SdkToolCall:
    """tools.call.ToolCall over the SDK's request context."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        # Set with InputRequired: what the call answers this round instead of a result.
        self.input_required: InputRequiredResult | None = None

    @property
    def arguments(self) -> Mapping[str, Any] | None:
        params = self._ctx.request_context.params or {}
        arguments = params.get("arguments")
        return arguments if isinstance(arguments, dict) else None

    def header(self, name: str) -> str | None:
        headers = getattr(self._ctx.request_context.request, "headers", None)
        value = headers.get(name) if headers is not None else None
        return value if isinstance(value, str) else None

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        # A no-op unless the client sent a progress token.
        await self._ctx.report_progress(progress, total, message)

    async def log(self, level: LogLevel, message: str) -> None:
        threshold = _connection_state(self._ctx.session).get(_LEVEL_STATE)
        if threshold is not None and _LEVELS.index(level) < _LEVELS.index(threshold):
            return
        try:
            # On a 2026-07-28 connection the SDK sends it only at or above the level this request opted into.
            await self._ctx.log(level, message, logger_name=CLIENT_LOGGER)
        except Exception:
            # A log line is best-effort: a client gone mid-call must not fail the call it was told about.
            logger.debug("a log message could not be sent to the client", exc_info=True)

    @property
    def can_elicit(self) -> bool:
        capabilities = self._ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        # A bare `elicitation: {}` (before modes existed) is form support; URL-only is not.
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return False
        # From 2026-07-28 the question rides the call's own answer; before, it needs a channel to the client.
        return self._multi_round or self._ctx.session.can_send_request

    async def confirm(self, question: str, form: type[ConfirmForm]) -> bool | None:
        if self._multi_round:
            return self._answer_or_ask(question, form)
        try:
            answer = await self._ctx.elicit(question, form)
        except (MCPError, ValueError):
            # The client failed to ask, or answered with something other than the form: not a yes.
            logger.info("the client's answer to a confirmation was not usable", exc_info=True)
            return None
        if isinstance(answer, AcceptedElicitation):
            return answer.data.confirm
        return False if isinstance(answer, DeclinedElicitation) else None

    @property
    def _multi_round(self) -> bool:
        return self._ctx.protocol_version in MODERN_PROTOCOL_VERSIONS

    def _answer_or_ask(self, question: str, form: type[ConfirmForm]) -> bool | None:
        """The user's answer to `question`, when this round carries it; else the question, raised for the seam."""
        request = ElicitRequest(
            params=ElicitRequestFormParams(message=question, requested_schema=render_elicitation_schema(form))
        )
        # The SDK seals request_state, so the client cannot forge it: an answer counts only for this question.
        asked = "dodo-mcp/confirm:" + hashlib.sha256(request.model_dump_json(by_alias=True).encode()).hexdigest()
        answer = (self._ctx.input_responses or {}).get(_CONFIRMATION)
        if isinstance(answer, ElicitResult) and self._ctx.request_state == asked:
            if answer.action == "decline":
                return False
            if answer.action == "accept":
                try:
                    return form.model_validate(answer.content).confirm
                except ValidationError:
                    return None
            return None
        self.input_required = InputRequiredResult(input_requests={_CONFIRMATION: request}, request_state=asked)
        raise InputRequired


def call_tool_result(result: ToolResult) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=result.text)],
        structured_content=result.structured,
        is_error=result.is_error,
    )


def sdk_tool(definition: ToolDefinition) -> Tool:
    """The SDK's Tool for `definition`: its schemas and annotations as given, answered by its function."""

    async def call(ctx: Context) -> CallToolResult | InputRequiredResult:
        tool_call = SdkToolCall(ctx)
        try:
            return call_tool_result(await definition.answer(tool_call))
        except InputRequired:
            assert tool_call.input_required is not None
            return tool_call.input_required

    call.__name__ = definition.name
    template = _tool_template()
    # A schema published without an output model: the SDK advertises it and does not validate
    # results against it (the suite validates every structuredContent it sees instead).
    metadata = FuncMetadata(arg_model=template.fn_metadata.arg_model, output_schema=definition.output_schema)
    return template.model_copy(
        update={
            "fn": call,
            "name": definition.name,
            "title": definition.title,
            "description": definition.description,
            "parameters": definition.input_schema,
            "fn_metadata": metadata,
            "annotations": ToolAnnotations(title=definition.title, **definition.hints),
            # MCP Apps' link from a tool to its view; the result is the same for every client.
            "meta": {"ui": {"resourceUri": definition.view_uri}} if definition.view_uri else None,
        }
    )


@functools.cache
def _tool_template() -> Tool:
    """Tool.from_function for a function of the one signature every sdk_tool function has.

    What from_function works out from a signature (the argument model, the context parameter, how
    each parameter is resolved) is the same for all of them, so it is worked out once (about 0.6 ms a
    tool); sdk_tool copies the template with its own function, name, texts and schemas."""

    async def call(ctx: Context) -> CallToolResult | InputRequiredResult:  # pragma: no cover - never called
        raise NotImplementedError

    return Tool.from_function(call, name="template", description="template", structured_output=False)


def app_views(views: Sequence[AppView]) -> Apps:
    """The SDK's MCP Apps extension serving `views` as `ui://` resources (text/html;profile=mcp-app).

    Passed to MCPServer, it lists and reads them and advertises io.modelcontextprotocol/ui. The tools link to
    their view themselves (sdk_tool's `_meta.ui`): theirs are built here from our own schemas, not by Apps.tool.
    No CSP domains are declared: the views load nothing, so a host's default block-all policy is what they need.
    """
    apps = Apps()
    for view in views:
        apps.add_html_resource(view.uri, view.html(), name=view.name, title=view.title, description=view.description)
    return apps


async def run_server_loop(
    server: MCPServer[Any],
    incoming: MemoryObjectReceiveStream[SessionMessage | Exception],
    outgoing: MemoryObjectSendStream[SessionMessage],
) -> None:
    """Serve one session of `server` over the message streams, with the SDK's own loop and handlers."""
    lowlevel = _lowlevel(server)
    await lowlevel.run(incoming, outgoing, lowlevel.create_initialization_options())


def _lowlevel(server: MCPServer[Any]) -> Any:
    """The low-level server under MCPServer, which runs the loop and holds the request handlers."""
    return server._lowlevel_server


# What is wrong with a prompts/get of (name, arguments), in words for the client; None when nothing is.
PromptProblem = Callable[[str, Mapping[str, object] | None], str | None]


class _PromptRequestCheck:
    """Middleware: refuse a prompts/get that `problem` finds wrong, as INVALID_PARAMS with its words.

    Params the protocol's own validation would refuse (a name that is not a string, arguments that
    are not an object) go on to it unchanged.
    """

    def __init__(self, problem: PromptProblem) -> None:
        self._problem = problem

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/get" and isinstance(ctx.params, Mapping):
            name, arguments = ctx.params.get("name"), ctx.params.get("arguments")
            if isinstance(name, str) and (arguments is None or isinstance(arguments, Mapping)):
                problem = self._problem(name, arguments)
                if problem is not None:
                    # An MCPError is answered as it is, and never logged as a crash.
                    raise MCPError(INVALID_PARAMS, problem)
        return await call_next(ctx)


def check_prompt_requests(server: MCPServer[Any], problem: PromptProblem) -> None:
    """Answer a prompts/get that `problem` finds wrong with INVALID_PARAMS and its words, before the SDK renders."""
    server.middleware.append(_PromptRequestCheck(problem))


async def _serves_tools(server: MCPServer[Any]) -> bool:
    return bool(await server.list_tools())


async def _serves_prompts(server: MCPServer[Any]) -> bool:
    return bool(await server.list_prompts())


async def _serves_resources(server: MCPServer[Any]) -> bool:
    return bool(await server.list_resources() or await server.list_resource_templates())


# Each capability MCPServer advertises whatever it serves, and whether anything is registered under it.
# Completion completes the prompts' arguments (no resource template is served), so it goes with them.
_REGISTERED: dict[str, Callable[[MCPServer[Any]], Awaitable[bool]]] = {
    "tools": _serves_tools,
    "prompts": _serves_prompts,
    "resources": _serves_resources,
    "completions": _serves_prompts,
}
# The answers that carry the server's capabilities: the handshake, and the 2026-07-28 discovery.
_CAPABILITY_METHODS = ("initialize", "server/discover")


class _AdvertiseWhatIsServed:
    """Middleware: leave out of the advertised capabilities each one with nothing registered.

    Read when a client asks, so a resource registered after build_server (or a prompt left out
    by --tools) is advertised from the next handshake on.
    """

    def __init__(self, server: MCPServer[Any], coming: Mapping[str, bool]) -> None:
        self._server = server
        self._coming = coming

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method not in _CAPABILITY_METHODS or not isinstance(result, dict):
            return result
        capabilities = result.get("capabilities")
        if not isinstance(capabilities, dict):
            return result
        kept = {
            name: value
            for name, value in capabilities.items()
            if name not in _REGISTERED or self._coming.get(name) or await _REGISTERED[name](self._server)
        }
        return {**result, "capabilities": kept}


def advertise_what_is_served(server: MCPServer[Any], *, tools: bool = False, prompts: bool = False) -> None:
    """Advertise only the capabilities (tools, prompts, resources, completions) under which something is
    registered, or will be: `tools` and `prompts` say what the server installs after the handshake
    (server.ServerStart), and completion goes with the prompts."""
    coming = {"tools": tools, "prompts": prompts, "completions": prompts}
    server.middleware.append(_AdvertiseWhatIsServed(server, coming))


def add_tools(server: MCPServer[Any], tools: Sequence[Tool]) -> None:
    """Serve `tools` (sdk_tool's) from now on. MCPServer takes Tool objects only when it is made, so its
    tool manager is made again, as MCPServer makes it, with the tools it had and these."""
    manager = server._tool_manager
    server._tool_manager = ToolManager(
        warn_on_duplicate_tools=manager.warn_on_duplicate_tools, tools=[*manager.list_tools(), *tools]
    )


class SdkCompletionRequest:
    """tools.completion.CompletionRequest over the SDK's request context and the validated params."""

    def __init__(self, ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> None:
        self._ctx = ctx
        self._params = params

    @property
    def prompt(self) -> str | None:
        ref = self._params.ref
        return ref.name if isinstance(ref, PromptReference) else None

    @property
    def resource(self) -> str | None:
        ref = self._params.ref
        return None if isinstance(ref, PromptReference) else ref.uri

    @property
    def argument(self) -> str:
        return self._params.argument.name

    @property
    def value(self) -> str:
        return self._params.argument.value

    @property
    def chosen(self) -> Mapping[str, str]:
        context = self._params.context
        return (context.arguments if context is not None else None) or {}

    def header(self, name: str) -> str | None:
        headers = getattr(self._ctx.request, "headers", None)
        value = headers.get(name) if headers is not None else None
        return value if isinstance(value, str) else None


Complete = Callable[["CompletionRequest"], Awaitable["CompletionAnswer"]]


def serve_completions(server: MCPServer[Any], complete: Complete) -> None:
    """Answer completion/complete with `complete`: its values, CompletionRefused as INVALID_PARAMS with its words.

    Nothing else comes back as an error: a crash of ours answers no values (and logs the traceback on stderr),
    never a JSON-RPC internal error.
    """

    async def handler(ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        from dodo_mcp.tools.completion import CompletionAnswer, CompletionRefused

        try:
            answer = await complete(SdkCompletionRequest(ctx, params))
        except CompletionRefused as refused:
            raise MCPError(INVALID_PARAMS, str(refused)) from None
        except Exception:
            logger.exception("completion of %r crashed; answering no values", params.argument.name)
            answer = CompletionAnswer()
        completion = Completion(values=list(answer.values), total=answer.total, has_more=answer.has_more)
        return CompleteResult(completion=completion)

    _lowlevel(server).add_request_handler("completion/complete", CompleteRequestParams, handler)


def _connection_state(session: Any) -> dict[str, Any]:
    """The connection's scratch state (the SDK's public Connection.state), which ServerSession holds privately."""
    state: dict[str, Any] = session._connection.state
    return state


async def _set_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
    _connection_state(ctx.session)[_LEVEL_STATE] = params.level
    return EmptyResult()


def serve_client_logging(server: MCPServer[Any]) -> None:
    """Answer logging/setLevel, keeping the level for SdkToolCall.log; the SDK then advertises `logging`."""
    _lowlevel(server).add_request_handler("logging/setLevel", SetLevelRequestParams, _set_level)


def authenticated_caller(identity: str) -> Any:
    """The ASGI scope's "user" for a caller known by `identity`.

    The SDK binds each Streamable HTTP and SSE session to the AuthenticatedUser that opened it and
    answers any other caller 404, as if the session did not exist: this is how our own bearer check
    hands it the caller. The raw token is not kept here (only the identity, a hash).
    """
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.server.auth.provider import AccessToken

    return AuthenticatedUser(AccessToken(token="", client_id=identity, scopes=[]))


# What an OAuth resource server verifies a bearer token with: the token's claims, or TokenRefused (dodo_mcp.oauth).
VerifyToken = Callable[[str], Awaitable["VerifiedToken"]]


def oauth_resource_server(
    app: ASGIApp,
    verify: VerifyToken,
    *,
    resource: str,
    issuer: str,
    scopes: Sequence[str],
    open_paths: Collection[str],
) -> ASGIApp:
    """`app` behind the SDK's own OAuth resource-server parts: its bearer backend with `verify` as the
    TokenVerifier, RequireAuthMiddleware (401 with `resource_metadata` in WWW-Authenticate), the auth
    contextvar, and its RFC 9728 protected-resource metadata document, served both at the path the SDK
    derives from `resource` (/.well-known/oauth-protected-resource/mcp) and at the bare well-known path.

    A refused token gets 401 with the reason in error_description (the SDK's backend would answer a bare
    "Authentication required"); keys that cannot be fetched get 503. `open_paths` need no token.
    """
    from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
    from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
    from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
    from pydantic import AnyHttpUrl
    from starlette.middleware.authentication import AuthenticationMiddleware

    from dodo_mcp.oauth import KeysUnavailable, TokenRefused
    from dodo_mcp.oauth_http import bearer_challenge

    resource_url = AnyHttpUrl(resource)
    metadata_url = str(build_resource_metadata_url(resource_url))
    routes = create_protected_resource_routes(
        resource_url=resource_url,
        # The issuer as configured: AnyHttpUrl would add a slash to a path-less one, and issuers compare as strings.
        authorization_servers=[issuer],  # type: ignore[list-item]
        scopes_supported=list(scopes),
        resource_name="dodo-mcp",
    )
    metadata = {route.path: route for route in routes if isinstance(route, Route)}
    metadata.setdefault(PROTECTED_RESOURCE_PATH, next(iter(metadata.values())))

    def refused(_: Any, exc: Exception) -> Response:
        reason = exc.__cause__ if isinstance(exc.__cause__, TokenRefused) else exc
        if isinstance(reason, KeysUnavailable):
            return JSONResponse(
                {"error": "temporarily_unavailable", "error_description": str(reason)},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return bearer_challenge(401, "invalid_token", str(reason), metadata_url)

    protected = AuthenticationMiddleware(
        AuthContextMiddleware(RequireAuthMiddleware(app, [], AnyHttpUrl(metadata_url))),
        backend=BearerAuthBackend(_SdkTokenVerifier(verify)),
        on_error=refused,
    )
    opened = frozenset(open_paths)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in opened:
            await app(scope, receive, send)
        elif scope["path"] in metadata:
            await metadata[scope["path"]].handle(scope, receive, send)
        else:
            await protected(scope, receive, send)

    return serve


def protected_resource_metadata_url(resource: str) -> str:
    """Where the SDK serves the RFC 9728 document for `resource` (the well-known path, then the resource's path)."""
    from mcp.server.auth.routes import build_resource_metadata_url
    from pydantic import AnyHttpUrl

    return str(build_resource_metadata_url(AnyHttpUrl(resource)))


class _SdkTokenVerifier:
    """The SDK's TokenVerifier over `verify`: a refusal is raised for AuthenticationMiddleware's on_error, with the
    reason; a valid token becomes the AccessToken the SDK binds sessions by (client, issuer, subject).

    The raw token is not kept in it. Its expiry includes the leeway: the SDK's backend checks it again, without one.
    """

    def __init__(self, verify: VerifyToken) -> None:
        self._verify = verify

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken
        from starlette.authentication import AuthenticationError

        from dodo_mcp.oauth import LEEWAY_S, TokenRefused

        try:
            verified = await self._verify(token)
        except TokenRefused as refusal:
            raise AuthenticationError(str(refusal)) from refusal
        return AccessToken(
            token="",
            client_id=verified.client_id,
            scopes=list(verified.scopes),
            expires_at=verified.expires_at + LEEWAY_S,
            resource=verified.audience,
            subject=verified.subject,
            claims={"iss": verified.issuer},
        )


# Entered around each MCP request with its method and, for a tools/call, the tool's name; what it yields is told
# how the request ended: "ok", "error" (an isError result), "input_required" or "failed" (the default).
WatchRequest = Callable[[str, "str | None"], AbstractContextManager[Callable[[str], None]]]


class _WatchRequests:
    """Middleware: every request inside `watch`, the SDK's own place for it (beside its OpenTelemetry span)."""

    def __init__(self, watch: WatchRequest) -> None:
        self._watch = watch

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        name = ctx.params.get("name") if isinstance(ctx.params, Mapping) else None
        with self._watch(ctx.method, name if isinstance(name, str) else None) as settle:
            result = await call_next(ctx)
            if isinstance(result, InputRequiredResult):
                settle("input_required")
            elif isinstance(result, CallToolResult):
                settle("error" if result.is_error else "ok")
            elif isinstance(result, Mapping):
                settle("error" if result.get("isError") is True else "ok")
            else:
                settle("ok")
            return result


def watch_requests(server: MCPServer[Any], watch: WatchRequest) -> None:
    """Run every request `server` answers inside `watch` (dodo_mcp.metrics' counts and timings)."""
    server.middleware.append(_WatchRequests(watch))


def open_sessions(server: MCPServer[Any]) -> int:
    """The Streamable HTTP sessions `server` holds now (0 before its app is built, or when stateless).

    The SDK's session manager keeps them in a private mapping and has no public count.
    """
    try:
        manager = server.session_manager
    except RuntimeError:
        return 0
    sessions: dict[str, Any] = manager._server_instances
    return len(sessions)


def events_per_session(server: MCPServer[Any], scoped: Callable[[Any], Any]) -> None:
    """Give each Streamable HTTP session its own view of the event store: `scoped(shared)` per session.

    The SDK hands every session's transport the one store it was given, and each transport names its
    streams by JSON-RPC request id, which every session starts again at 0: one session's reconnect could
    replay another's answer. The session manager reads `event_store` once per new transport; a
    subclass whose `event_store` is a property answers each read with a fresh view of the shared store.
    Call it after `streamable_http_app()` built the manager, before the app serves.
    """
    manager = server.session_manager

    class SessionScopedManager(type(manager)):  # type: ignore[misc]  # the SDK's manager, whatever it is
        @property
        def event_store(self) -> Any:
            return None if self._shared_events is None else scoped(self._shared_events)

        @event_store.setter
        def event_store(self, store: Any) -> None:
            self._shared_events = store

    shared = manager.event_store
    manager.__class__ = SessionScopedManager
    manager.event_store = shared
