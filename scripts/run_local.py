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
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

from app.ddb import open_client
from app.observability import configure_logging
from app.repositories.schema import create_table
from app.repositories.table import Table
from app.serve import build_server
from app.settings import Settings, settings_or_exit
from app.streams.worker import run_worker
from scripts.seed import DEMO_USERS, seed

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
    server = build_server(settings, host, port)
    stop_worker = asyncio.Event()
    worker = None
    if settings.stream_worker_enabled:
        worker = asyncio.create_task(run_worker(settings, stop_worker))
    try:
        await server.serve()  # returns after Ctrl-C, once in-flight requests are done
    finally:
        stop_worker.set()
        if worker is not None:
            await worker


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
