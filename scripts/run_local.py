"""``make run``: the embedded DynamoDB server, schema, demo data, stream worker and the API.

Everything runs on loopback until Ctrl-C (or SIGTERM), then stops in reverse order: the API
finishes its requests, the stream worker stops between batches, and the embedded server goes
last. With CRUDDUR_DDB_ENDPOINT_URL set (e.g. DynamoDB Local from docker compose) that endpoint
is used instead of starting the embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path

from app.ddb import open_client
from app.docs import DOCS_URL
from app.events.bus import Hub, build_bus
from app.observability import configure_logging, text_logs
from app.repositories.schema import create_table
from app.repositories.table import Table
from app.serve import DrainingServer, build_server
from app.settings import Settings, settings_or_exit
from app.state import cipher_of, open_data_keys
from app.streams.worker import run_worker
from scripts.kms_key import ensure_key
from scripts.seed import DEMO_USERS, seed

log = logging.getLogger("run_local")

INTERRUPTED = 130
"""Exit status after Ctrl-C before the API was up (128 + SIGINT), as shells report it."""


async def prepare(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        created = await create_table(client, settings.table_name)
        log.info("table %s %s", settings.table_name, "created" if created else "exists")
        if settings.encryption == "kms" and settings.kms_endpoint is not None:
            created = await ensure_key(settings)  # a local KMS; in AWS the template makes it
            log.info("KMS key %s %s", settings.kms_key_id, "created" if created else "exists")
        table = Table(client, settings.table_name)
        report = await seed(table, cipher_of(await open_data_keys(settings, stack, table)))
        log.info("seed: %s", report)


def banner(settings: Settings, api_url: str) -> str:
    handles = ", ".join(handle for handle, _ in DEMO_USERS)
    lines = [
        "",
        "cruddur-messaging is up. Ctrl-C stops everything.",
        f"  web client    {api_url}/",
        f"  API           {api_url}/api",
        *([f"  API explorer  {api_url}{DOCS_URL}"] if settings.docs_enabled else []),
        f"  DynamoDB      {settings.ddb_endpoint_url}",
        f"  demo users    {handles}",
        "  a token       curl -s -X POST "
        f"{api_url}/api/dev/tokens -H 'Content-Type: application/json' "
        f"""-d '{{"handle": "{DEMO_USERS[0][0]}"}}'""",
        "",
    ]
    return "\n".join(lines)


async def serve(settings: Settings, host: str, port: int) -> None:
    """Until SIGINT/SIGTERM: uvicorn handles them while it serves, these handlers before."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await prepare(settings)
    if stop.is_set():
        return
    api_url = f"http://{host}:{port}"

    def announce() -> None:
        if text_logs(settings):
            print(banner(settings, api_url), file=sys.stderr, flush=True)
        else:
            log.info("serving api=%s dynamodb=%s", api_url, settings.ddb_endpoint_url)

    async with serving_with_worker(settings, host, port, stop, on_started=announce) as server:
        # Returns after Ctrl-C, once in-flight requests are done; uvicorn then re-raises the
        # signal it caught, which lands in the handlers above instead of a KeyboardInterrupt.
        await server.serve()


@asynccontextmanager
async def serving_with_worker(
    settings: Settings,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    *,
    on_started: Callable[[], None] | None = None,
    **uvicorn_options: object,
) -> AsyncIterator[DrainingServer]:
    """The API server and (when enabled) the stream worker, sharing one event bus; the worker
    runs until ``stop`` is set or the block ends.

    On the default in-process bus the worker's events reach this server's streams directly,
    and each stored message wakes the worker at once instead of after its poll interval.
    With Redis configured, events travel through Redis as they would between processes.
    """
    stop = stop or asyncio.Event()
    bus = build_bus(
        settings.events_redis_url,
        Hub(settings.events_queue_size, settings.events_max_streams_per_user),
    )
    await bus.start()
    wake = asyncio.Event()
    server = build_server(
        settings,
        host,
        port,
        bus=bus,
        on_message_stored=wake.set,
        on_started=on_started,
        **uvicorn_options,
    )
    worker = None
    if settings.stream_worker_enabled:
        worker = asyncio.create_task(run_worker(settings, stop, bus, wake))
    try:
        yield server
    finally:
        stop.set()
        if worker is not None:
            await worker
        await bus.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4567, help="API port (default 4567)")
    parser.add_argument("--ddb-port", type=int, default=8000, help="embedded DynamoDB port")
    args = parser.parse_args(argv)
    settings = settings_or_exit("run_local")
    if not settings.local_sign_in_handles:  # the web client's sign-in page offers the demo users
        handles = [handle for handle, _ in DEMO_USERS]
        settings = settings.model_copy(update={"local_sign_in_handles": handles})
    configure_logging(settings)
    try:
        with ExitStack() as stack:
            if settings.ddb_endpoint_url is None:
                # Imported here: images that run against DynamoDB Local do not install moto.
                from scripts.embedded import embedded_dynamodb

                endpoint = stack.enter_context(
                    embedded_dynamodb(args.ddb_port, Path(settings.local_state_dir) / "moto.log")
                )
                log.info("embedded DynamoDB (moto) on %s", endpoint)
                update: dict[str, str] = {"ddb_endpoint_url": endpoint}
                if "encryption" not in settings.model_fields_set:
                    update["encryption"] = "kms"  # the embedded server serves KMS on its port
                settings = settings.model_copy(update=update)
            asyncio.run(serve(settings, args.host, args.port))
    except KeyboardInterrupt:  # while the embedded server was starting
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
