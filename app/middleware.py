"""Pure ASGI middleware: request ids and access logs, protective headers, the body size cap."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.error_handlers import error_response, wants_code_list
from app.errors import PayloadTooLarge
from app.observability import request_id_var
from app.settings import ErrorFormat

log = logging.getLogger("app.access")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` if sane), echoes it, logs once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 before anything parses them.

    A declared Content-Length is checked up front; a body without one (chunked) is read up to
    the cap first and then handed on, so the application never sees part of an oversize body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, error_format: ErrorFormat) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.error_format = error_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; let the app see that
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"Request bodies are limited to {self.max_bytes} bytes.")
        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
        codes = wants_code_list(self.error_format, accept)
        await error_response(error.problem(), error.headers, codes=codes)(scope, receive, send)


class SecurityHeadersMiddleware:
    """Protective headers on every response; ``Cache-Control: no-store`` on ``/api``.

    ``/api`` answers carry private messages, so no cache (browser or shared) may keep them.
    Nothing may frame the service (clickjacking), browsers must not guess content types, and
    no URL leaks in a Referer. A header a route set itself is left alone. HSTS is sent only
    when configured: it belongs where TLS ends, which is in front of this service.
    """

    def __init__(self, app: ASGIApp, hsts_max_age_seconds: int = 0) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", b"frame-ancestors 'none'"),
        ]
        if hsts_max_age_seconds:
            common.append(
                (b"strict-transport-security", f"max-age={hsts_max_age_seconds}".encode())
            )
        self._headers = common
        self._api_headers = [*common, (b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        added = self._api_headers if path == "/api" or path.startswith("/api/") else self._headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in added if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
