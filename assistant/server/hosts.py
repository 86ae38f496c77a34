"""The names the server answers to, and its guard against other sites' requests.

A page on another site can make a browser send requests here: to this address under the
attacker's own name (DNS rebinding), or straight from its own origin (a cross-site POST). The
Host check (Starlette's TrustedHostMiddleware, set up in the app) refuses the first, and
`SameOriginWrites` the second.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.config import Settings, is_loopback

# Names the machine itself reaches loopback by; they are never another site's.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def machine_names() -> list[str]:
    """The machine's host name, its fully qualified name, and its mDNS name (`name.local`,
    what phones on the same network resolve)."""
    short = socket.gethostname().lower()
    names = [short, socket.getfqdn().lower()]
    if short and "." not in short:
        names.append(f"{short}.local")
    return _unique(name for name in names if name and not is_loopback(name))


def interface_addresses(*, ipv6: bool) -> list[str]:
    """The machine's own addresses a phone could reach (not loopback, not link-local)."""
    # ifaddr comes with aioice (pipecat's WebRTC extra), which lists its ICE addresses with it.
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if ip.is_IPv4 else ip.ip[0]
            address = ipaddress.ip_address(text)
            if address.version == 6 and not ipv6:
                continue
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                found.append(str(address))
    return _unique(found)


def server_names(settings: Settings) -> list[str]:
    """The names and addresses (IPv6 without brackets) the server is reached by beyond
    loopback: ALLOWED_HOSTS, or else the machine's names and the bound address (each of the
    machine's addresses when bound to all of them)."""
    if settings.allowed_host_names:
        return [name.removeprefix("[").removesuffix("]") for name in settings.allowed_host_names]
    if is_loopback(settings.host):
        return []
    bound = settings.host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(bound)
    except ValueError:  # bound by name
        return _unique([bound, *machine_names()])
    if address.is_unspecified:
        return _unique([*machine_names(), *interface_addresses(ipv6=address.version == 6)])
    return _unique([*machine_names(), str(address)])


def allowed_hosts(settings: Settings) -> list[str]:
    """Host header values (without the port) the server answers; everything else gets 400."""
    as_host = [f"[{name}]" if ":" in name else name for name in server_names(settings)]
    return _unique([*LOOPBACK_HOSTS, *as_host])


class SameOriginWrites:
    """POST, PUT, PATCH and DELETE sent by another site's page get 403.

    Hand-rolled: Starlette's CORSMiddleware only adds headers for the browser to act on and
    never refuses a request, and neither Starlette nor FastAPI has an Origin check. Requests
    without an Origin (not from a browser page) pass; the Host check has run before this.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None:
                foreign = not same_origin(origin, scope["scheme"], headers.get("host", ""))
            else:  # older browsers leave Origin out but say where a request comes from
                foreign = headers.get("sec-fetch-site") == "cross-site"
            if foreign:
                return await _forbidden(send)
        await self.app(scope, receive, send)


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether a browser's Origin header names this server as the request reached it."""
    return _origin_key(origin) is not None and _origin_key(origin) == _origin_key(
        f"{scheme}://{host}"
    )


def _origin_key(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    if not host or port is None:  # "null" (sandboxed frames, file://), or no scheme we serve
        return None
    return scheme, host, port


async def _forbidden(send: Send) -> None:
    body = json.dumps({"detail": "Refused: this request comes from another site."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))
