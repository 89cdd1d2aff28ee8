"""The HTTP floor: the floor's DynamoDB calls served by uvicorn, with no framework and no app code.

``python -m bench.http_floor --port P --config FILE`` runs uvicorn exactly as ``app.serve``
does (uvloop, httptools, the same protocol class and limits) in front of a bare ASGI callable:
``POST /<pattern>`` with one workload descriptor as its JSON body makes that pattern's
DynamoDB calls (``FloorTarget.perform``, the requests the repositories make) and answers
200 with a two-byte body. It is what any service on this stack pays before its first line
of framework or application code: the HTTP hop. Between the floor and the API it splits the
gap in two: the HTTP floor over the floor is the ceiling a uvicorn service can reach; the API
over the HTTP floor is what FastAPI and our code keep of it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

import uvicorn
from starlette.types import Receive, Scope, Send

from app.serve import server_config
from app.settings import Settings
from bench.floor_target import FloorTarget
from bench.patterns import BY_NAME, LIST_CONVERSATIONS
from bench.processes import child_environment, free_port, stop, wait_until_answering
from bench.service import Service, native_modules
from bench.workload import Descriptor, UserEntry

_OK = b"{}"
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


class HttpFloorConfig(TypedDict):
    ddb_endpoint: str
    table_name: str
    users: list[UserEntry]


class HttpFloorApp:
    def __init__(self, config: HttpFloorConfig) -> None:
        # The pattern given here is unused: every request names its own.
        self._calls = FloorTarget(
            config["ddb_endpoint"],
            config["table_name"],
            LIST_CONVERSATIONS,
            [],
            config["users"],
            idempotency_prefix=f"http-floor-{time.time_ns()}",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        pattern = BY_NAME.get(scope["path"].lstrip("/"))
        if pattern is None:
            status, payload = 404, b"{}"
        else:
            descriptor: Descriptor = json.loads(body)
            error = await self._calls.perform(pattern, descriptor)
            status, payload = (200, _OK) if error is None else (500, json.dumps(error).encode())
        headers = _HEADERS if payload is _OK else [(b"content-length", b"%d" % len(payload))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._calls.start(workers=0)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._calls.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


@contextmanager
def running_http_floor(config: HttpFloorConfig, workdir: Path) -> Iterator[Service]:
    """The HTTP floor in its own process, as the service runs in its own."""
    port = free_port()
    config_path = workdir / "http-floor.json"
    config_path.write_text(json.dumps(config))
    with (workdir / "http-floor.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed module
            [sys.executable, "-m", "bench.http_floor", f"--port={port}", f"--config={config_path}"],
            env=child_environment({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Any answer means it is up: an unknown path is 404.
        wait_until_answering(f"http://127.0.0.1:{port}/", process, accept=lambda _: True)
        yield Service("127.0.0.1", (port,), (process.pid,), native_modules(process.pid))
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.http_floor")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    config: HttpFloorConfig = json.loads(args.config.read_text())
    app = HttpFloorApp(config)
    uvicorn.Server(server_config(app, Settings(_env_file=None), "127.0.0.1", args.port)).run()


if __name__ == "__main__":
    main()
