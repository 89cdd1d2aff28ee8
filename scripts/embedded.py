"""The embedded DynamoDB-compatible server: moto in server mode, on loopback only.

Two repairs of moto 5.2.5 make it behave like DynamoDB where our code depends on it:
- moto is not safe under concurrent requests: TransactWriteItems snapshots whole tables and,
  when cancelled, restores the snapshot, discarding writes other threads made meanwhile. We
  serve moto with one lock around each request, so every request is atomic and isolated.
  Connections are still accepted concurrently.
- The snapshot includes the table's stream shard, so after a cancelled transaction stream
  readers keep reading a discarded shard: they see records of writes that never happened and
  nothing after. The shard is shared instead of copied, and a cancelled transaction's records
  are dropped from it, as on DynamoDB, where a cancelled transaction writes no stream record.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

STARTUP_TIMEOUT_SECONDS = 30.0

# One line per request is noise at our request rates.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _keep_streams_through_cancelled_transactions() -> None:
    original = DynamoDBBackend.transact_write_items
    if getattr(original, "repaired", False):
        return

    def share(shard: StreamShard, memo: dict[int, Any]) -> StreamShard:
        return shard

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        before = {
            name: (table, table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            original(self, transact_items)
        finally:
            for name, (table, shard, length) in before.items():
                restored = self.tables.get(name)
                if restored is not None and restored is not table:  # rolled back
                    del shard.items[length:]
                    shard.table = restored

    transact_write_items.repaired = True  # type: ignore[attr-defined]
    StreamShard.__deepcopy__ = share  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class SerializedApp:
    """WSGI middleware: one request at a time, response body included."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


class EmbeddedDynamoDB:
    """moto on 127.0.0.1 in a background thread of this process (used by the tests)."""

    def __init__(self, port: int = 0) -> None:
        _keep_streams_through_cancelled_transactions()
        app = SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


@contextmanager
def embedded_dynamodb(port: int, log_path: Path) -> Iterator[str]:
    """Run the embedded server as a child process until the block exits; yields its URL."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter and module
            [sys.executable, "-m", "scripts.embedded", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(endpoint, process)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_serving(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the embedded DynamoDB server exited with {process.returncode} "
                f"(is port {endpoint.rsplit(':', 1)[1]} free?)"
            )
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the embedded DynamoDB server did not start on {endpoint}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the embedded DynamoDB on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = EmbeddedDynamoDB(args.port)
    print(f"embedded DynamoDB (moto, serialized) on {server.endpoint}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
