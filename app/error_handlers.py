"""The one place where exceptions become RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.errors import PROBLEM_JSON, VALIDATION_CODES, InvalidInput, ProblemDetails, ServiceError
from app.settings import ErrorFormat

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
# Error types raised by pydantic itself that mean "the body is not JSON at all".
_MALFORMED_BODY_TYPES = {"json_invalid", "model_attributes_type", "model_type"}


def wants_code_list(error_format: ErrorFormat, accept: str | None) -> bool:
    """The Cruddur SPA's shape, unless the client asks for problem details by name."""
    return error_format == "spa" and PROBLEM_JSON not in (accept or "").lower()


def error_response(
    problem: ProblemDetails, headers: Mapping[str, str], *, codes: bool
) -> JSONResponse:
    """RFC 9457 problem details, or (``codes``) the JSON array of codes the SPA renders."""
    if codes:
        return JSONResponse(
            [problem.code],
            status_code=problem.status,
            headers={**headers, "Vary": "Accept"},
        )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=dict(headers),
        media_type=PROBLEM_JSON,
    )


def _validation_problem(error: RequestValidationError) -> InvalidInput:
    details = [
        # No "input" echo: it may hold the message text or a token.
        {"loc": list(item.get("loc", ())), "type": item.get("type", ""), "msg": item.get("msg", "")}
        for item in error.errors()
    ]
    first = details[0] if details else {"type": "", "msg": "Invalid request."}
    code = str(first["type"])
    if code in _MALFORMED_BODY_TYPES:
        code = "body_malformed"
    elif code == "extra_forbidden":
        code = "field_not_allowed"
    elif code == "missing":
        code = "field_required"
    elif code not in VALIDATION_CODES:
        code = "validation_failed"
    return InvalidInput(str(first["msg"]), code=code, extra={"errors": details})


def _allowed_methods(request: Request, allowed: str) -> str:
    """Every documented method at this path, with Starlette's ``allowed``: Starlette names only
    the first matching route's methods (``PATCH`` and ``DELETE`` of a message are two routes)."""
    methods = {method.strip() for method in allowed.split(",") if method.strip()}
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI, error_format: ErrorFormat) -> None:
    def respond(request: Request, error: ServiceError) -> JSONResponse:
        codes = wants_code_list(error_format, request.headers.get("accept"))
        return error_response(error.problem(), error.headers, codes=codes)

    async def on_service_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceError)
        if error.status >= 500:
            log.warning("request failed: %s", error.code)
        return respond(request, error)

    async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return respond(request, _validation_problem(error))

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8)
            return respond(request, InvalidInput("The body is not JSON.", code="body_malformed"))
        problem = ProblemDetails(
            title=HTTPStatus(error.status_code).phrase,
            status=error.status_code,
            code=_HTTP_CODES.get(error.status_code, f"http_{error.status_code}"),
            detail=error.detail if isinstance(error.detail, str) else None,
        )
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
        codes = wants_code_list(error_format, request.headers.get("accept"))
        return error_response(problem, headers, codes=codes)

    async def on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return respond(request, ServiceError("Something went wrong on our side."))

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
