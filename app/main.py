"""The composition root: ``create_app(settings)`` builds the whole service; nothing at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig

from app.docs import OPENAPI_URL, install_docs
from app.error_handlers import install_error_handlers
from app.events.bus import EventBus
from app.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from app.routers import blocks, dev, events, health, message_groups, messages, users
from app.settings import Settings
from app.state import Lifecycle, open_state
from app.web.routes import mount_client

_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    settings: Settings | None = None,
    *,
    bus: EventBus | None = None,
    on_message_stored: Callable[[], None] | None = None,
) -> FastAPI:
    """``bus`` and ``on_message_stored``: shared with a stream worker in this process."""
    settings = settings or Settings()

    lifecycle = Lifecycle()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_state(settings, lifecycle, bus, on_message_stored) as state:
            yield {"app_state": state}
            lifecycle.draining = True

    app = FastAPI(
        title="cruddur-messaging",
        version="0.1.0",
        summary="Direct messages for Cruddur, on a DynamoDB single-table design.",
        lifespan=lifespan,
        # Stable operation ids (the route functions' names) for clients and OpenAPI links.
        generate_unique_id_function=lambda route: route.name,
        # FastAPI looks the global OpenTelemetry providers up on every request unless told
        # not to: 4-5% of the CPU of a listing (bench/, issue 6).
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
        docs_url=None,  # install_docs serves it without a CDN
        redoc_url=None,
        openapi_url=OPENAPI_URL if settings.docs_enabled else None,
    )
    app.state.lifecycle = lifecycle  # the server entry point flips it on SIGTERM
    install_error_handlers(app, settings.error_format)
    # The last added runs first: request ids and access logs see everything, protective
    # headers go on every answer (preflights and 413s too), CORS answers preflights, and the
    # body cap applies before any route parses a body.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        error_format=settings.error_format,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allowed_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "Last-Event-ID",
            "X-Request-ID",
        ],
        expose_headers=[
            "Link",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "X-Request-ID",
        ],
        max_age=600,
    )
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_max_age_seconds=settings.hsts_max_age_seconds
    )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    app.include_router(message_groups.router)
    app.include_router(messages.router)
    app.include_router(users.router)
    app.include_router(blocks.router)
    app.include_router(events.router)
    if settings.is_local:
        app.include_router(dev.router)
    if settings.docs_enabled:
        install_docs(app)
    mount_client(app, settings)
    return app
