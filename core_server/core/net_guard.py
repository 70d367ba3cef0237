"""Which hosts the server may connect to on a user's behalf (external bots, later webhooks).

Public addresses are allowed. Loopback, private, link-local (169.254.169.254, the cloud
metadata address, among them), multicast and reserved addresses are refused unless the
allow-list names them; the embedded default lists loopback so a laptop can attach local bots.
The check runs on every connection with the address actually dialled, so a name that resolves
elsewhere later (DNS rebinding) or a redirect (never followed) cannot get around it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx

from core_server.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UrlNotAllowed(InvalidInput):
    code = "URL_NOT_ALLOWED"
    default_message = "That address is not allowed."


class OutboundPolicy:
    def __init__(self, allowlist: Iterable[str]) -> None:
        self.networks: list[IPNetwork] = []
        self.hostnames: set[str] = set()
        for entry in allowlist:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hostnames.add(entry)

    def allows_ip(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.networks):
            return True
        return address.is_global and not address.is_multicast

    def parse(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URL, or UrlNotAllowed saying why not."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlNotAllowed(f"'{url[:100]}' is not a valid URL.") from exc
        if parts.scheme not in ("http", "https"):
            raise UrlNotAllowed("Only http:// and https:// URLs are allowed.")
        if parts.username is not None or parts.password is not None:
            raise UrlNotAllowed("Put credentials in their own fields, not in the URL.")
        if not parts.hostname:
            raise UrlNotAllowed("The URL has no host.")
        return (
            parts.scheme,
            parts.hostname.lower(),
            port or (443 if parts.scheme == "https" else 80),
        )

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to; all of them must be allowed."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise UrlNotAllowed(f"The host '{host}' cannot be resolved.") from exc
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if host in self.hostnames:
            return addresses
        refused = [str(a) for a in addresses if not self.allows_ip(a)]
        if refused or not addresses:
            raise UrlNotAllowed(
                f"'{host}' resolves to an address that is not allowed ({', '.join(refused)}); "
                "an administrator can admit it with OUTBOUND_ALLOWLIST.",
                details={"host": host, "addresses": refused},
            )
        return addresses

    async def check_url(self, url: str) -> None:
        _, host, port = self.parse(url)
        await self.resolve(host, port)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Dials the address it has just checked, never a second lookup's answer."""

    def __init__(self, policy: OutboundPolicy, inner: httpx.AsyncBaseTransport | None = None):
        self.policy = policy
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            address = (await self.policy.resolve(host, port))[0]
        except UrlNotAllowed as exc:
            raise httpx.ConnectError(exc.message, request=request) from exc
        if str(address) != host:
            request.headers["Host"] = request.url.netloc.decode("ascii")
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=str(address))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
