"""Body cap, per-user rate limits, CORS, request ids, logs without secrets, graceful drain."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from opentelemetry import trace

from app.main import create_app
from app.observability import SDK_LOGGERS, configure_logging, request_id_var
from app.serve import build_server
from app.settings import Settings
from tests.conftest import MakeUser, SignedIn, start_conversation


async def test_oversize_bodies_are_413_before_parsing(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    andrew = await make_user()
    oversize = b'{"message": "' + b"x" * settings.max_body_bytes + b'", "handle": "a"}'
    declared = await client.post(
        "/api/messages",
        content=oversize,
        headers={**andrew.headers, "Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(oversize), 4096):
            yield oversize[start : start + 4096]

    chunked = await client.post(
        "/api/messages",
        content=chunks(),
        headers={**andrew.headers, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413

    async def small() -> AsyncIterator[bytes]:
        yield b'{"message": "hi", '
        yield b'"handle": "nobody_at_all"}'

    under_cap = await client.post(
        "/api/messages",
        content=small(),
        headers={**andrew.headers, "Content-Type": "application/json"},
    )
    assert under_cap.status_code == 404  # parsed and handled: the handle does not exist


@pytest_asyncio.fixture
async def strict_client(
    settings: Settings, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """An app with tiny limits, on the same table as ``client``."""
    strict = settings.model_copy(
        update={"rate_limit_sends": "3/minute", "rate_limit_reads": "5/minute"}
    )
    app = create_app(strict)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_sends_over_the_per_user_limit_get_429_with_retry_after(
    strict_client: httpx.AsyncClient, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    body = {"message": "hi", "message_group_uuid": group}
    responses = [
        await strict_client.post("/api/messages", json=body, headers=andrew.headers)
        for _ in range(4)
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    limited = responses[-1]
    assert limited.json()["code"] == "rate_limited"
    assert limited.headers["RateLimit-Limit"] == "3"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = await strict_client.post("/api/messages", json=body, headers=bayko.headers)
    assert other.status_code == 200  # limits are per user


async def test_reads_have_their_own_limit(
    strict_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew = await make_user()
    statuses = [
        (await strict_client.get("/api/message_groups", headers=andrew.headers)).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


async def test_cors_allows_only_configured_origins(client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }
    allowed = await client.options(
        "/api/messages", headers={"Origin": "http://localhost:3000", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    refused = await client.options(
        "/api/messages", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    simple = await client.get("/livez", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", f"/api/messages/{uuid4()}/{uuid4()}"),  # edit
        ("DELETE", f"/api/messages/{uuid4()}/{uuid4()}"),  # delete a message
        ("DELETE", "/api/users/@bayko/block"),  # unblock
    ],
)
async def test_cors_allows_the_methods_the_routes_use(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    preflight = await client.options(
        path,
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert method in preflight.headers["access-control-allow-methods"].split(", ")
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_request_ids_are_echoed_or_generated(client: httpx.AsyncClient) -> None:
    mine = await client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    generated = hostile.headers["x-request-id"]
    assert generated != "bad id\twith spaces"
    assert len(generated) == 32


@pytest.mark.transactions
async def test_logs_carry_the_request_id_and_never_tokens_or_message_text(
    client: httpx.AsyncClient, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    andrew, bayko = await make_user(), await make_user()
    secret_text = "the-launch-codes-are-1234"
    with caplog.at_level(logging.DEBUG, logger="app"):
        response = await client.post(
            "/api/messages",
            json={"message": secret_text, "handle": bayko.user.handle},
            headers={**andrew.headers, "X-Request-ID": "req-42"},
        )
    assert response.status_code == 200
    access = [r for r in caplog.records if r.name == "app.access"]
    assert [(r.__dict__["status"], r.__dict__["method"]) for r in access] == [(200, "POST")]
    token = andrew.headers["Authorization"].removeprefix("Bearer ")
    for record in caplog.records:
        rendered = f"{record.getMessage()} {record.__dict__}"
        assert token not in rendered
        assert secret_text not in rendered


def test_logging_config_keeps_the_sdk_quiet_even_at_debug(settings: Settings) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(settings.model_copy(update={"log_level": "DEBUG"}))
        assert root.level == logging.DEBUG
        for name in SDK_LOGGERS:
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        for name in SDK_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_json_log_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    handler_settings = Settings(_env_file=None)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(handler_settings)
        token = request_id_var.set("req-7")
        logging.getLogger("app.test").info("hello", extra={"count": 3})
        request_id_var.reset(token)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["request_id"] == "req-7"
    assert record["message"] == "hello"
    assert record["count"] == 3
    assert record["level"] == "INFO"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.transactions
async def test_sigterm_turns_readiness_503_first_and_lets_in_flight_requests_finish(
    settings: Settings, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew: SignedIn = await make_user()
    bayko: SignedIn = await make_user()
    port = _free_port()
    server = build_server(
        settings.model_copy(update={"shutdown_drain_seconds": 1.0}), "127.0.0.1", port
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
        await asyncio.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        assert (await http.get("/readyz")).status_code == 200
        release_body = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield b'{"message": "sent while draining", '
            await release_body.wait()
            yield f'"handle": "{bayko.user.handle}"}}'.encode()

        in_flight = asyncio.create_task(
            http.post(
                "/api/messages",
                content=slow_body(),
                headers={**andrew.headers, "Content-Type": "application/json"},
            )
        )
        await asyncio.sleep(0.1)
        server.handle_exit(signal.SIGTERM, None)
        draining = await http.get("/readyz")
        assert draining.status_code == 503
        assert draining.json()["checks"]["shutdown"] == "draining"
        release_body.set()
        finished = await in_flight
        assert finished.status_code == 200
        assert finished.json()["message"] == "sent while draining"
    await asyncio.wait_for(serving, timeout=10)
    assert serving.done()


@pytest.mark.parametrize("enabled", [False, True])
async def test_opentelemetry_providers_are_looked_up_per_request_only_when_enabled(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    lookups: list[object] = []
    global_provider = trace.get_tracer_provider

    def counting_lookup() -> trace.TracerProvider:
        lookups.append(None)
        return global_provider()

    monkeypatch.setattr(trace, "get_tracer_provider", counting_lookup)
    application = create_app(settings.model_copy(update={"opentelemetry": enabled}))
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            lookups.clear()
            assert (await http.get("/livez")).status_code == 200

    assert bool(lookups) is enabled
