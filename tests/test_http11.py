"""Http11Transport on the wire: a scripted HTTP server on 127.0.0.1 answers with exact bytes, and each
test asserts what the transport sent, what it made of the answer and when it opened a connection.

The rest of the suite (the Dodo double, the sandbox served over HTTP, the fault scenarios) runs through
it as well, since it is DodoClient's default for network URLs.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoTimeout, DodoTransportError
from dodo_mcp.api.http11 import Http11Transport, uses_proxy
from dodo_mcp.config import Settings

pytestmark = pytest.mark.anyio

OK_JSON = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'

# What the server does with the nth request (0-based) of a connection: the bytes to answer, or None to
# close without answering.
Script = Callable[[int, bytes], bytes | None]


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []  # each request's head and body, as received
        self.connections = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                answer = self.script(served, request)
                served += 1
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"\r\nConnection: close\r\n" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def scripted(script: Script, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[ScriptedServer]:
    served = ScriptedServer(script)
    server = await asyncio.start_server(served._serve, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    served.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    async with server:
        yield served
        server.close()


def always(answer: bytes) -> Script:
    return lambda n, request: answer


async def test_requests_share_one_kept_alive_connection_and_arrive_exactly_as_built() -> None:
    async with scripted(always(OK_JSON)) as server, httpx2.AsyncClient(transport=Http11Transport()) as http:
        for n in range(3):
            response = await http.post(f"{server.url}/events/ingest?x={n}", content=b'{"events":[]}')
            assert (response.status_code, response.json()) == (200, {"ok": True})
            assert response.headers["content-type"] == "application/json"
            assert response.http_version == "HTTP/1.1" and response.reason_phrase == "OK"
    assert server.connections == 1
    host = server.url.removeprefix("http://").encode()
    assert server.requests[2] == (
        b"POST /events/ingest?x=2 HTTP/1.1\r\nHost: " + host + b"\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate"
        b"\r\nConnection: keep-alive\r\nUser-Agent: python-httpx2/" + httpx2.__version__.encode() + b"\r\n"
        b"Content-Length: 13\r\n\r\n"
        b'{"events":[]}'
    )


async def test_chunked_gzip_and_read_to_close_answers_are_read_whole() -> None:
    body = gzip.compress(b'{"items":[1,2,3]}')
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7))
        + b"0\r\n\r\n"
    )
    to_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 70_000

    def script(n: int, request: bytes) -> bytes | None:
        return chunked if request.startswith(b"GET /a ") else to_close

    async with scripted(script) as server, httpx2.AsyncClient(transport=Http11Transport()) as http:
        assert (await http.get(server.url + "/a")).json() == {"items": [1, 2, 3]}
        assert (await http.get(server.url + "/b")).content == b"x" * 70_000
        # The read-to-close answer ended its connection: the next request opens another.
        assert (await http.get(server.url + "/c")).content == b"x" * 70_000
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_never_reused() -> None:
    connections = 0

    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One answer per connection, then the close, as a server's idle timeout does.
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK_JSON)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, httpx2.AsyncClient(transport=Http11Transport()) as http:
        for _ in range(3):
            assert (await http.get(url + "/events")).status_code == 200
            await asyncio.sleep(0.05)  # the close reaches the client's loop
    assert connections == 3


async def test_kept_alive_connections_expire() -> None:
    async with (
        scripted(always(OK_JSON)) as server,
        httpx2.AsyncClient(transport=Http11Transport(keepalive_expiry=0.05)) as http,
    ):
        await http.get(server.url)
        await asyncio.sleep(0.1)
        await http.get(server.url)
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (b"", httpx2.RemoteProtocolError, "Server disconnected without sending a response."),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"par', httpx2.ReadError, "closed in the middle of the answer"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", httpx2.RemoteProtocolError, "malformed HTTP answer"),
    ],
)
async def test_an_answer_missing_cut_short_or_malformed_is_an_httpx2_error(
    answer: bytes, error: type[Exception], words: str
) -> None:
    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    async with server, httpx2.AsyncClient(transport=Http11Transport()) as http:
        with pytest.raises(error, match=words):
            await http.get(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")


async def test_a_slow_answer_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)

    slow = await asyncio.start_server(never, "127.0.0.1", 0)
    async with slow, httpx2.AsyncClient(transport=Http11Transport(), timeout=httpx2.Timeout(5.0, read=0.1)) as http:
        with pytest.raises(httpx2.ReadTimeout, match=r"no complete answer within 0.1 s"):
            await http.get(f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}/")
        port = slow.sockets[0].getsockname()[1]
    with pytest.raises(httpx2.ConnectError, match=f"^127.0.0.1:{port} refused the connection$"):
        async with httpx2.AsyncClient(transport=Http11Transport()) as http:
            await http.get(f"http://127.0.0.1:{port}/")


async def test_dodo_client_maps_the_transports_failures_as_before() -> None:
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    settings = Settings(api_key=SecretStr("sk_test_x"), base_url_override=f"http://127.0.0.1:{port}", max_retries=0)
    async with DodoClient(settings) as client:
        with pytest.raises(
            DodoTransportError,
            match=rf"^Could not reach Dodo at http://127.0.0.1:{port}: ConnectError: 127.0.0.1:{port} refused the connection\.",
        ):
            await client.retrieve_event("evt_1")

    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    slow = await asyncio.start_server(never, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}"
    async with slow:
        settings = Settings(api_key=SecretStr("sk_test_x"), base_url_override=url, max_retries=0, deadline_s=0.2)
        async with DodoClient(settings) as client:
            with pytest.raises(DodoTimeout):
                await client.retrieve_event("evt_1")


async def test_a_header_that_would_split_the_request_is_refused_before_anything_is_sent() -> None:
    async with scripted(always(OK_JSON)) as server, httpx2.AsyncClient(transport=Http11Transport()) as http:
        with pytest.raises(httpx2.LocalProtocolError, match="illegal character in the 'x-key' header"):
            await http.get(server.url, headers={"x-key": "a\r\nInjected: yes"})
    assert server.requests == []


async def test_https_with_the_servers_certificate_trusted(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    async with scripted(always(OK_JSON), server_context) as server:
        async with httpx2.AsyncClient(transport=Http11Transport(ssl_context=client_context)) as http:
            assert (await http.get(server.url + "/events")).json() == {"ok": True}
        # Not trusted: the handshake fails, as a connect error.
        async with httpx2.AsyncClient(transport=Http11Transport(ssl_context=ssl.create_default_context())) as http:
            with pytest.raises(httpx2.ConnectError, match=r"the TLS certificate of 127\.0\.0\.1 was not accepted"):
                await http.get(server.url + "/events")


def test_a_proxy_in_the_environment_keeps_httpx2s_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert not uses_proxy()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert uses_proxy()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_with_a_proxy_in_the_environment_requests_go_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    event = (
        b'{"business_id":"b","customer_id":"c","event_id":"evt_1","event_name":"n","timestamp":"2026-01-01T00:00:00Z"}'
    )
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(event), event)
    async with scripted(always(answer)) as proxy:
        for name in ("HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        # Nothing listens at the base URL's port: only the proxy can answer.
        settings = Settings(api_key=SecretStr("sk_test_x"), base_url_override="http://dodo.invalid:9", max_retries=0)
        async with DodoClient(settings) as client:
            assert (await client.retrieve_event("evt_1")).event_id == "evt_1"
    assert proxy.requests[0].startswith(b"GET http://dodo.invalid:9/events/evt_1 HTTP/1.1\r\n")
