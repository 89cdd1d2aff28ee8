"""A TCP proxy that adds network latency in front of the local DynamoDB: ``--ddb-latency-ms``.

On loopback a DynamoDB call's round trip is a few tens of microseconds, so work that saves
round trips (two calls started together instead of one after the other) cannot show. A
regional DynamoDB answers in milliseconds. This proxy holds every chunk of bytes, in each
direction, for half the given round-trip time before passing it on, in order; bandwidth and
connection counts are untouched. It runs in its own process, so its CPU is no one's.
Timers tick in milliseconds (uvloop): each way's delay is at least its half, up to ~1 ms more.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import uvloop

from bench.processes import (
    REPO_ROOT,
    STARTUP_TIMEOUT_SECONDS,
    child_environment,
    free_port,
    stop,
)

_CHUNK_BYTES = 65536


async def _forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Bytes from ``reader`` to ``writer``, each chunk ``delay`` seconds after it came in."""
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await held.get()
            if not chunk:
                break
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
        writer.close()

    delivering = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(_CHUNK_BYTES):
            held.put_nowait((loop.time() + delay, chunk))
    except ConnectionError:
        pass
    held.put_nowait((0.0, b""))  # end of stream, after everything before it
    await delivering


async def _serve(listen_port: int, target_host: str, target_port: int, delay: float) -> None:
    async def connected(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        try:
            server_reader, server = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client.close()
            return
        await asyncio.gather(
            _forward(client_reader, server, delay),
            _forward(server_reader, client, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(connected, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


@contextmanager
def latency_proxy(endpoint: str, round_trip_ms: float) -> Iterator[str]:
    """``endpoint`` behind the proxy: the URL to use instead."""
    target = urlsplit(endpoint)
    port = free_port()
    argv = [sys.executable, "-m", "bench.latency_proxy", f"--listen-port={port}"]
    argv += [f"--target={target.hostname}:{target.port}", f"--round-trip-ms={round_trip_ms}"]
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=child_environment({}))  # noqa: S603
    try:
        _wait_until_listening(port, process)
        yield f"{target.scheme}://127.0.0.1:{port}"
    finally:
        stop(process)


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the latency proxy exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the latency proxy did not listen within {STARTUP_TIMEOUT_SECONDS:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.latency_proxy", description=__doc__)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--target", required=True, help="host:port")
    parser.add_argument("--round-trip-ms", type=float, required=True)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    uvloop.run(_serve(args.listen_port, host, int(port), args.round_trip_ms / 2000))


if __name__ == "__main__":
    main()
