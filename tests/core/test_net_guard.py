"""The outbound policy: which addresses the server may reach for a user."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from core_server.core.net_guard import GuardedTransport, OutboundPolicy, UrlNotAllowed

STRICT = OutboundPolicy([])  # a production install that lists nothing
EMBEDDED = OutboundPolicy(["127.0.0.0/8", "::1/128"])  # the default


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://127.1:8080",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://[::1]:8080",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:8080",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.0.0.5:8080",
        "http://172.16.0.1/",
        "http://192.168.1.10/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://example.com/",
        "http://user:secret@example.com/",
        "http:///nohost",
        "http://[::1",
    ],
)
async def test_hostile_urls_are_refused_without_a_listing(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        await STRICT.check_url(url)


async def test_loopback_is_admitted_by_the_embedded_default_only() -> None:
    await EMBEDDED.check_url("http://127.0.0.1:8080")
    await EMBEDDED.check_url("http://localhost:8080")
    with pytest.raises(UrlNotAllowed):
        await EMBEDDED.check_url("http://169.254.169.254/")
    with pytest.raises(UrlNotAllowed):
        await EMBEDDED.check_url("http://10.0.0.5/")
    await OutboundPolicy(["10.0.0.0/8"]).check_url("http://10.0.0.5:8080")


async def test_public_addresses_are_allowed() -> None:
    await STRICT.check_url("https://8.8.8.8/")
    await STRICT.check_url("http://[2001:4860:4860::8888]/")


async def test_the_transport_refuses_at_connection_time() -> None:
    """A URL that passed an earlier check is checked again when it is dialled, and no
    connection is made to a refused address."""
    accepted = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient(transport=GuardedTransport(STRICT)) as client:
        with pytest.raises(httpx.ConnectError, match="not allowed"):
            await client.get(f"http://127.0.0.1:{port}/")
        with pytest.raises(httpx.ConnectError, match="not allowed"):
            await client.get(f"http://localhost:{port}/")
    assert accepted == []
    assert socket.gethostbyname("localhost").startswith("127.")
