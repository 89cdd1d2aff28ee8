"""The embedded DynamoDB-compatible server: moto in server mode, on loopback only.

Two repairs of moto 5.2.5 make it behave like DynamoDB where our code depends on it:
- moto is not safe under concurrent requests: a transaction applies its operations one by one,
  so another thread could see half of it. We serve moto with one lock around each request, so
  every request is atomic and isolated. Connections are still accepted concurrently.
- moto makes transactions cancellable by deep-copying every table they touch and restoring the
  copy when one is cancelled: a cost proportional to the table (4.7 s per transaction at 100,000
  items), and the copy's stream shard, once restored, no longer receives the records readers
  follow. Since requests are serialised, undo is enough: before a transaction we keep a copy of
  only the items it names and the length of each stream shard; if moto cancels it, we put those
  items back and drop its stream records (on DynamoDB a cancelled transaction writes none).
  moto's own table copy is skipped: during our transaction a table copies to itself.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

STARTUP_TIMEOUT_SECONDS = 30.0

# One line per request is noise at our request rates.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@dataclass(frozen=True)
class _ItemBefore:
    """One item a transaction names, as it was before the transaction (None: absent)."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None

    def restore(self) -> None:
        if self.range_key is None:
            if self.item is None:
                self.table.items.pop(self.hash_key, None)
            else:  # moto types every table's items as if it had sort keys
                self.table.items[self.hash_key] = self.item  # type: ignore[assignment]
            return
        rows = self.table.items[self.hash_key]
        if self.item is None:
            rows.pop(self.range_key, None)
        else:
            rows[self.range_key] = self.item


def _item_before(backend: DynamoDBBackend, operation: dict[str, Any]) -> _ItemBefore | None:
    kind, request = next(iter(operation.items()))
    try:
        table = backend.get_table(request["TableName"])
        key = request["Item"] if kind == "Put" else request["Key"]
        hash_key, range_key = backend.get_keys_value(table, key)
    except Exception:  # moto refuses an operation whose key it cannot read, writing nothing
        return None
    current = table.get_item(hash_key, range_key)
    return _ItemBefore(table, hash_key, range_key, copy.deepcopy(current))


@contextmanager
def _tables_copy_to_themselves() -> Iterator[None]:
    """moto's whole-table snapshot becomes free. Safe because requests are serialised: no
    other request (a backup, say) copies a table meanwhile."""
    Table.__deepcopy__ = lambda table, memo: table  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del Table.__deepcopy__  # type: ignore[attr-defined]


def _undo_cancelled_transactions() -> None:
    original = DynamoDBBackend.transact_write_items
    if getattr(original, "repaired", False):
        return

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        before = [_item_before(self, operation) for operation in transact_items]
        shards = [
            (table.stream_shard, len(table.stream_shard.items))
            for table in self.tables.values()
            if table.stream_shard is not None
        ]
        try:
            with _tables_copy_to_themselves():
                original(self, transact_items)
        except Exception:
            # Reversed: when an item is named twice (moto then cancels), its first copy wins.
            for item in reversed(before):
                if item is not None:
                    item.restore()
            for shard, length in shards:
                del shard.items[length:]
            raise

    transact_write_items.repaired = True  # type: ignore[attr-defined]
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
        _undo_cancelled_transactions()
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

    def join(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


@contextmanager
def embedded_dynamodb(port: int, log_path: Path) -> Iterator[str]:
    """Run the embedded server as a child process until the block exits; yields its URL."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        # Its own session: a terminal's Ctrl-C reaches only the caller, which stops the API and
        # the stream worker first and this server last, when nothing uses it any more.
        process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter and module
            [
                *(sys.executable, "-m", "scripts.embedded", "--port", str(port)),
                *("--parent-pid", str(os.getpid())),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
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


def _stop_when_orphaned(server: EmbeddedDynamoDB, parent_pid: int) -> None:
    """In its own session, the server would outlive a parent killed outright (SIGKILL)."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the embedded DynamoDB on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--parent-pid", type=int, help="stop when this process is gone")
    args = parser.parse_args(argv)
    server = EmbeddedDynamoDB(args.port)
    print(f"embedded DynamoDB (moto, serialized) on {server.endpoint}", flush=True)
    server.start()
    if args.parent_pid is None:
        server.join()
    else:
        _stop_when_orphaned(server, args.parent_pid)


if __name__ == "__main__":
    main()
