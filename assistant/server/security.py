"""Request guards: an access token when exposed beyond loopback, and a validation-error answer
that any parsed body can be echoed in. (The body cap is FastAPI's `max_body_size`, the Host and
Origin checks are in `hosts`.)"""

from __future__ import annotations

import hmac
import ipaddress
import json

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "assistant_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _reject(send: Send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessToken:
    """Every request must carry the token: `?token=` (then remembered in a cookie),
    an `Authorization: Bearer` header, or that cookie."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        from starlette.requests import HTTPConnection

        connection = HTTPConnection(scope)
        from_query = connection.query_params.get("token")
        offered = (
            from_query
            or connection.headers.get("authorization", "").removeprefix("Bearer ").strip()
            or connection.cookies.get(TOKEN_COOKIE)
            or ""
        )
        if not hmac.compare_digest(offered.encode(), self.token):
            return await _reject(send, 401, "Missing or wrong access token.")
        if not from_query:
            return await self.app(scope, receive, send)

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={from_query}; HttpOnly; SameSite=Strict; Path=/"
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
            await send(message)

        await self.app(scope, receive, remember)


async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, except that a body Python's JSON parser accepts but JSON can't carry back
    (Infinity, NaN) loses its echoed inputs instead of turning the answer into a 500."""
    errors = jsonable_encoder(error.errors())
    try:
        return JSONResponse(status_code=422, content={"detail": errors})
    except ValueError:
        plain = [{key: value for key, value in e.items() if key != "input"} for e in errors]
        return JSONResponse(status_code=422, content={"detail": plain})
