"""The composition root: ``create_app(settings)`` builds the whole service; nothing at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.error_handlers import install_error_handlers
from app.routers import dev, health, message_groups, messages, users
from app.settings import Settings
from app.state import open_state


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_state(settings) as state:
            yield {"app_state": state}
            state.shutting_down = True

    app = FastAPI(
        title="cruddur-messaging",
        version="0.1.0",
        summary="Direct messages for Cruddur, on a DynamoDB single-table design.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(message_groups.router)
    app.include_router(messages.router)
    app.include_router(users.router)
    if settings.is_local:
        app.include_router(dev.router)
    return app
