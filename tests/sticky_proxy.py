"""A tiny HTTP reverse proxy in front of several servers, for tests: on 127.0.0.1, round-robin,
and sticky as Caddy's ``lb_policy cookie`` is (README, "Several server processes"): a browser's
first request picks a server and a cookie keeps it there, so the ICE ``PATCH`` reaches the
process that took the offer. ``sticky=False`` picks a server per request, to show why."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from aiohttp import ClientSession, web

COOKIE = "lb"
# Hop-by-hop and re-encoded headers a proxy does not pass on (RFC 9110 §7.6.1).
DROPPED = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "upgrade",
}


@dataclass
class StickyProxy:
    backends: list[str]
    sticky: bool = True
    url: str = ""
    # Which backend served each request, in order (index into ``backends``).
    served: list[int] = field(default_factory=list)
    _next: itertools.cycle = field(init=False)
    _runner: web.AppRunner | None = None
    _client: ClientSession | None = None

    def __post_init__(self) -> None:
        self._next = itertools.cycle(range(len(self.backends)))

    async def __aenter__(self) -> StickyProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._client = ClientSession(auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()
        await self._client.close()

    def _choose(self, request: web.Request) -> tuple[int, bool]:
        """(backend, whether the cookie must be set)."""
        if self.sticky:
            chosen = request.cookies.get(COOKIE, "")
            if chosen.isdigit() and int(chosen) < len(self.backends):
                return int(chosen), False
        return next(self._next), self.sticky

    async def _forward(self, request: web.Request) -> web.Response:
        backend, set_cookie = self._choose(request)
        self.served.append(backend)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        async with self._client.request(
            request.method,
            self.backends[backend] + request.rel_url.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            response = web.Response(status=upstream.status, body=body)
            for name, value in upstream.headers.items():
                if name.lower() not in DROPPED:
                    response.headers.add(name, value)
        if set_cookie:
            response.set_cookie(COOKIE, str(backend), httponly=True, samesite="Lax")
        return response
