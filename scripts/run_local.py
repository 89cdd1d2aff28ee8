"""``make run``: the embedded DynamoDB server, schema, demo data, stream worker and the API.

Everything runs on loopback until Ctrl-C, then stops in reverse order. With
CRUDDUR_DDB_ENDPOINT_URL set (e.g. DynamoDB Local from docker compose) that endpoint is used
instead of starting the embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path

from app.ddb import open_client
from app.events.bus import Hub, build_bus
from app.observability import configure_logging
from app.repositories.schema import create_table
from app.repositories.table import Table
from app.serve import DrainingServer, build_server
from app.settings import Settings, settings_or_exit
from app.streams.worker import run_worker
from scripts.seed import seed

log = logging.getLogger("run_local")


async def prepare(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        created = await create_table(client, settings.table_name)
        log.info("table %s %s", settings.table_name, "created" if created else "exists")
        report = await seed(Table(client, settings.table_name))
        log.info("seed: %s", report)


async def serve(settings: Settings, host: str, port: int) -> None:
    await prepare(settings)
    async with serving_with_worker(settings, host, port) as server:
        await server.serve()  # returns after Ctrl-C, once in-flight requests are done


@asynccontextmanager
async def serving_with_worker(
    settings: Settings, host: str, port: int, **uvicorn_options: object
) -> AsyncIterator[DrainingServer]:
    """The API server and (when enabled) the stream worker, sharing one event bus.

    On the default in-process bus the worker's events reach this server's streams directly,
    and each stored message wakes the worker at once instead of after its poll interval.
    With Redis configured, events travel through Redis as they would between processes.
    """
    bus = build_bus(
        settings.events_redis_url,
        Hub(settings.events_queue_size, settings.events_max_streams_per_user),
    )
    await bus.start()
    wake = asyncio.Event()
    server = build_server(
        settings, host, port, bus=bus, on_message_stored=wake.set, **uvicorn_options
    )
    stop_worker = asyncio.Event()
    worker = None
    if settings.stream_worker_enabled:
        worker = asyncio.create_task(run_worker(settings, stop_worker, bus, wake))
    try:
        yield server
    finally:
        stop_worker.set()
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
    configure_logging(settings)
    with ExitStack() as stack:
        if settings.ddb_endpoint_url is None:
            # Imported here: images that run against DynamoDB Local do not install moto.
            from scripts.embedded import embedded_dynamodb

            endpoint = stack.enter_context(
                embedded_dynamodb(args.ddb_port, Path(settings.local_state_dir) / "moto.log")
            )
            log.info("embedded DynamoDB (moto) on %s", endpoint)
            settings = settings.model_copy(update={"ddb_endpoint_url": endpoint})
        asyncio.run(serve(settings, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
