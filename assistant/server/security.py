"""Request guards: a cap on body size, and a validation-error answer that any parsed body can
be echoed in. (Who may ask is `web_sessions.SessionCookie`'s.)"""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.config import is_loopback

__all__ = ["BodySizeLimit", "invalid_request", "is_loopback"]


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


class BodySizeLimit:
    """Refuses bodies over `max_bytes` (413), declared or streamed.

    Hand-rolled because Starlette/uvicorn have no request body cap of their own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _reject(send, 413, f"Request body over {self.max_bytes} bytes.")
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            if too_large:
                await _reject(send, 413, f"Request body over {self.max_bytes} bytes.")


class BodyTooLarge(Exception):
    pass


async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, except that a body Python's JSON parser accepts but JSON can't carry back
    (Infinity, NaN) loses its echoed inputs instead of turning the answer into a 500."""
    errors = jsonable_encoder(error.errors())
    try:
        return JSONResponse(status_code=422, content={"detail": errors})
    except ValueError:
        plain = [{key: value for key, value in e.items() if key != "input"} for e in errors]
        return JSONResponse(status_code=422, content={"detail": plain})
