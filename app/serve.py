"""Production entry point: ``python -m app.serve`` runs uvicorn with a graceful drain.

On SIGTERM the service first reports not-ready (/readyz 503) for ``shutdown_drain_seconds`` while
still serving, so load balancers stop routing to it; then uvicorn stops accepting connections,
lets in-flight requests finish (bounded by --graceful-timeout) and runs the lifespan's
shutdown, which closes the DynamoDB client. SIGINT (Ctrl-C) skips the drain.

Connections are bounded here too (``CRUDDUR_HTTP_*``): request head size and time
(app/http_limits.py), idle keep-alive, and a concurrency cap answered with 503.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from app.events.bus import EventBus
from app.http_limits import bounded_head_protocol
from app.main import create_app
from app.observability import configure_logging
from app.settings import Settings, settings_or_exit
from app.state import Lifecycle


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        lifecycle: Lifecycle,
        drain_seconds: float,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_seconds = drain_seconds
        self.on_started = on_started
        self._drain_until: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._drain_until is None and self.drain_seconds > 0:
            self.lifecycle.draining = True
            self._drain_until = time.monotonic() + self.drain_seconds
            return
        # Event streams never finish by themselves: end them (with a retry hint) now, or
        # uvicorn would wait for them before the lifespan's shutdown.
        self.lifecycle.exiting()
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            self.lifecycle.exiting()
            self.should_exit = True
        return await super().on_tick(counter)


def server_config(
    app: Callable[..., Any], settings: Settings, host: str, port: int, **uvicorn_options: object
) -> uvicorn.Config:
    """uvicorn as production runs it: httptools with our head limits, keep-alive, concurrency."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=bounded_head_protocol(
            settings.http_max_head_bytes, settings.http_head_timeout_seconds
        ),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        limit_concurrency=settings.http_max_concurrency,
        access_log=False,  # RequestContextMiddleware logs each request, with its id
        log_config=None,  # keep configure_logging's JSON handler
        server_header=False,
        lifespan="on",  # a failed start-up (missing settings, say) stops the server
        **uvicorn_options,  # type: ignore[arg-type]
    )


def build_server(
    settings: Settings,
    host: str,
    port: int,
    *,
    bus: EventBus | None = None,
    on_message_stored: Callable[[], None] | None = None,
    on_started: Callable[[], None] | None = None,
    **uvicorn_options: object,
) -> DrainingServer:
    app = create_app(settings, bus=bus, on_message_stored=on_message_stored)
    config = server_config(app, settings, host, port, **uvicorn_options)
    return DrainingServer(config, app.state.lifecycle, settings.shutdown_drain_seconds, on_started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.serve", description="Serve the messaging API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4567)
    parser.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-*")
    parser.add_argument("--graceful-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    settings = settings_or_exit("app.serve")
    configure_logging(settings)
    server = build_server(
        settings,
        args.host,
        args.port,
        proxy_headers=args.proxy_headers,
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
