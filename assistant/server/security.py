"""Request guards: a validation-error answer that any parsed body can be echoed in. (Who may
ask is `web_sessions.SessionCookie`'s; the body cap is FastAPI's `max_body_size`, the Host and
Origin checks are in `hosts`.)"""

from __future__ import annotations

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, except that a body Python's JSON parser accepts but JSON can't carry back
    (Infinity, NaN) loses its echoed inputs instead of turning the answer into a 500."""
    errors = jsonable_encoder(error.errors())
    try:
        return JSONResponse(status_code=422, content={"detail": errors})
    except ValueError:
        plain = [{key: value for key, value in e.items() if key != "input"} for e in errors]
        return JSONResponse(status_code=422, content={"detail": plain})
