"""Real-time events benchmark: send -> recipient event latency, idle streams, fan-out.

Two topologies, each in fresh processes on the embedded DynamoDB (moto):
- ``embedded``: ``make run``'s process (API + stream worker, in-process bus, woken by sends);
- ``redis``: the API in one process, the stream worker in another (the Lambda's part), the bus
  through a real redis-server, as in AWS.

Measures, per topology: the time from a send's response to the recipient's ``message`` event
(p50/p95/p99) at several open-loop send rates; how many idle streams one API process holds and
its memory per stream; how many events per second it fans out to those streams.

    python -m bench.events            # ~3 minutes on 2 cores
    python -m bench.events --quick    # a smoke run (~40 s)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from httpx_sse import aconnect_sse

from bench.machine import machine_info
from bench.processes import REPO_ROOT, child_environment, free_port, stop, wait_until_answering
from bench.stats import summarize_latencies
from scripts.embedded import embedded_dynamodb
from scripts.redis_server import redis_server

SENDER, RECIPIENT = "andrewbrown", "bayko"
WAIT_SECONDS = 60.0
OPEN_BATCH = 250
"""Idle streams opened concurrently at a time."""


@dataclass(frozen=True)
class Plan:
    rates: tuple[float, ...]
    sends_per_rate: int
    idle_streams: int
    fanout_messages: int
    rounds: int


FULL = Plan(rates=(2.0, 10.0, 25.0), sends_per_rate=60, idle_streams=5000, fanout_messages=5,
            rounds=3)  # fmt: skip
QUICK = Plan(rates=(5.0,), sends_per_rate=10, idle_streams=200, fanout_messages=2, rounds=1)


@dataclass
class Topology:
    name: str
    api_url: str
    api_pid: int


def _environment(endpoint: str, state_dir: Path, **extra: str) -> dict[str, str]:
    return child_environment(
        {
            "CRUDDUR_DDB_ENDPOINT_URL": endpoint,
            "CRUDDUR_LOCAL_STATE_DIR": str(state_dir),
            "CRUDDUR_RATE_LIMIT_ENABLED": "false",
            "CRUDDUR_EVENTS_MAX_STREAMS_PER_USER": "5000",
            "CRUDDUR_HTTP_MAX_CONCURRENCY": "20000",
            "CRUDDUR_LOG_LEVEL": "WARNING",
            **extra,
        }
    )


def _spawn(module: str, environment: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our interpreter and modules, fixed arguments
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def _process(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def topology(name: str, work_dir: Path) -> Iterator[Topology]:
    """Fresh processes: the embedded DynamoDB, then the API (and worker) of ``name``."""
    state_dir = work_dir / name
    with ExitStack() as stack:
        endpoint = stack.enter_context(embedded_dynamodb(free_port(), state_dir / "moto.log"))
        port = free_port()
        extra: dict[str, str] = {}
        if name == "redis":
            extra = {
                "CRUDDUR_EVENTS_REDIS_URL": stack.enter_context(redis_server()),
                "CRUDDUR_STREAM_WORKER_ENABLED": "false",
            }
        environment = _environment(endpoint, state_dir, **extra)
        api = stack.enter_context(
            _process(_spawn("scripts.run_local", environment, "--port", str(port)))
        )
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(f"{url}/readyz", api, lambda response: response.status_code == 200)
        if name == "redis":
            stack.enter_context(_process(_spawn("app.streams.worker", environment)))
        yield Topology(name, url, api.pid)


async def _token(http: httpx.AsyncClient, handle: str) -> dict[str, str]:
    response = await http.post("/api/dev/tokens", json={"handle": handle})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class _Arrivals:
    at: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def _recipient_stream(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> AsyncIterator[_Arrivals]:
    arrivals = _Arrivals()
    opened = asyncio.Event()

    async def read() -> None:
        async with aconnect_sse(http, "GET", "/api/events", headers=headers) as source:
            opened.set()
            async for sse in source.aiter_sse():
                if sse.event == "message" and sse.data:
                    arrivals.at[sse.json()["uuid"]] = time.perf_counter()
                    arrivals.changed.set()

    task = asyncio.create_task(read())
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await opened.wait()
        yield arrivals
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task


async def measure_latency(url: str, rate: float, sends: int) -> dict[str, Any]:
    """Open loop at ``rate`` sends/s; latency from each send's response to its event."""
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_SECONDS) as http:
        sender, recipient = await _token(http, SENDER), await _token(http, RECIPIENT)
        async with _recipient_stream(http, recipient) as arrivals:
            # Warm-up, not measured: the stream worker has attached and is following.
            warm_up = await http.post(
                "/api/messages", json={"message": "warm-up", "handle": RECIPIENT}, headers=sender
            )
            warm_up.raise_for_status()
            async with asyncio.timeout(WAIT_SECONDS):
                while warm_up.json()["uuid"] not in arrivals.at:
                    arrivals.changed.clear()
                    await arrivals.changed.wait()
            responded: dict[str, float] = {}
            errors = 0

            async def send(index: int) -> None:
                nonlocal errors
                response = await http.post(
                    "/api/messages",
                    json={"message": f"bench {index}", "handle": RECIPIENT},
                    headers=sender,
                )
                if response.status_code != 200:
                    errors += 1
                    return
                responded[response.json()["uuid"]] = time.perf_counter()

            started = time.perf_counter()
            tasks = []
            for index in range(sends):
                await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(send(index)))
            await asyncio.gather(*tasks)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAIT_SECONDS):
                    while set(responded) - set(arrivals.at):
                        arrivals.changed.clear()
                        await arrivals.changed.wait()
            latencies = [
                max(0.0, arrivals.at[uuid] - at) for uuid, at in responded.items()
                if uuid in arrivals.at
            ]  # fmt: skip
            # As a reader would: otherwise the unread set stays at its cap, and every later
            # summary update takes the slower read-then-write path.
            group = warm_up.json()["message_group_uuid"]
            read = await http.post(f"/api/message_groups/{group}/read", headers=recipient)
            read.raise_for_status()
    return {
        "rate_per_second": rate,
        "sends": sends,
        "errors": errors,
        "missing_events": len(responded) - len(latencies),
        "latency_ms": summarize_latencies(latencies),
    }


async def _open_idle_stream(
    host: str, port: int, headers: dict[str, str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {headers['Authorization']}\r\nAccept: text/event-stream\r\n\r\n"
    )
    writer.write(request.encode())
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return reader, writer


async def measure_streams(url: str, pid: int, streams: int, messages: int) -> dict[str, Any]:
    """Idle streams held by the API process, its memory per stream, then fan-out to them."""
    host, port = url.removeprefix("http://").split(":")
    api = psutil.Process(pid)
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_SECONDS) as http:
        sender = await _token(http, SENDER)
        # Spread over the demo users that are not the sender (each has its own limit).
        recipients = [await _token(http, handle) for handle in (RECIPIENT, "londo", "altbrown")]
        for headers in recipients:  # warm the identity cache: no stampede of look-ups below
            (await http.get("/api/me", headers=headers)).raise_for_status()
        rss_before = api.memory_info().rss
        opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        started = time.perf_counter()
        for first in range(0, streams, OPEN_BATCH):
            batch = range(first, min(streams, first + OPEN_BATCH))
            opened += await asyncio.gather(
                *(_open_idle_stream(host, int(port), recipients[i % 3]) for i in batch)
            )
        open_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)  # let the server settle before reading its memory
        rss_after = api.memory_info().rss
        probe_started = time.perf_counter()
        (await http.get("/readyz")).raise_for_status()
        readyz_ms = (time.perf_counter() - probe_started) * 1000

        # Fan-out: every stream of the three recipients gets a `message` event per message it
        # was sent, and `conversation` events (one per handled batch, so possibly fewer).
        delivered = 0
        completed = 0
        done = asyncio.Event()

        async def count(reader: asyncio.StreamReader) -> None:
            nonlocal delivered, completed
            messages_seen = 0
            while messages_seen < messages:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"event: "):
                    delivered += 1
                    messages_seen += line.rstrip() == b"event: message"
            completed += 1
            if completed == len(opened):
                done.set()

        counters = [asyncio.create_task(count(reader)) for reader, _ in opened]
        fan_started = time.perf_counter()
        for index in range(messages):
            for target in (RECIPIENT, "londo", "altbrown"):
                response = await http.post(
                    "/api/messages",
                    json={"message": f"fan-out {index}", "handle": target},
                    headers=sender,
                )
                response.raise_for_status()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                await done.wait()
        fan_seconds = time.perf_counter() - fan_started
        for task in counters:
            task.cancel()
        for _, writer in opened:
            writer.close()
    return {
        "idle_streams": len(opened),
        "open_seconds": open_seconds,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "kb_per_stream": (rss_after - rss_before) / max(1, len(opened)) / 1024,
        "readyz_ms_with_streams_open": readyz_ms,
        "fanout_streams_complete": completed,
        "fanout_events_delivered": delivered,
        "fanout_seconds": fan_seconds,
        "fanout_events_per_second": delivered / fan_seconds if fan_seconds else 0.0,
    }


async def _run_topology(top: Topology, plan: Plan) -> dict[str, Any]:
    rounds = []
    for round_index in range(plan.rounds):
        rounds.append(
            {
                "round": round_index + 1,
                "latency": [
                    await measure_latency(top.api_url, rate, plan.sends_per_rate)
                    for rate in plan.rates
                ],
            }
        )
    streams = await measure_streams(
        top.api_url, top.api_pid, plan.idle_streams, plan.fanout_messages
    )
    return {"topology": top.name, "rounds": rounds, "streams": streams}


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"# Events benchmark {doc['run_id']}",
        "",
        f"Machine: {doc['machine'].get('cpu_model')}, {doc['machine'].get('logical_cores')} "
        "cores (shared with other work while measured).",
        "",
        "## send -> recipient `message` event (ms, from the send's response)",
        "",
        "| topology | round | sends/s | p50 | p95 | p99 | missing | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in doc["results"]:
        for round_ in result["rounds"]:
            for row in round_["latency"]:
                latency = row["latency_ms"]
                lines.append(
                    f"| {result['topology']} | {round_['round']} | {row['rate_per_second']:g} | "
                    f"{latency['p50']:.1f} | {latency['p95']:.1f} | {latency['p99']:.1f} | "
                    f"{row['missing_events']} | {row['errors']} |"
                )
    lines += [
        "",
        "## idle streams and fan-out (one API process)",
        "",
        "| topology | streams | KB/stream | readyz ms | fan-out events/s | streams complete |",
        "|---|---|---|---|---|---|",
    ]
    for result in doc["results"]:
        s = result["streams"]
        lines.append(
            f"| {result['topology']} | {s['idle_streams']} | {s['kb_per_stream']:.1f} | "
            f"{s['readyz_ms_with_streams_open']:.1f} | {s['fanout_events_per_second']:.0f} | "
            f"{s['fanout_streams_complete']}/{s['idle_streams']} |"
        )
    if len(doc["results"]) == 2:
        embedded, redis = (
            [row["latency_ms"]["p95"] for round_ in result["rounds"] for row in round_["latency"]]
            for result in doc["results"]
        )
        ratios = ", ".join(f"{r / e:.2f}" for e, r in zip(embedded, redis, strict=True) if e)
        lines += ["", f"p95 ratio redis/embedded, per round and rate: {ratios}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.events", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--topologies", default="embedded,redis")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--rounds", type=int, help="override the plan's rounds")
    parser.add_argument("--idle-streams", type=int, help="override the plan's idle streams")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = replace(
        plan,
        rounds=args.rounds or plan.rounds,
        idle_streams=args.idle_streams or plan.idle_streams,
    )
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-events-") as work:
        for name in args.topologies.split(","):
            with topology(name, Path(work)) as top:
                results.append(asyncio.run(_run_topology(top, plan)))
    doc = {
        "schema_version": 1,
        "run_id": run_id,
        "quick": args.quick,
        "plan": plan.__dict__,
        "machine": machine_info(),
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"events-{run_id}.json").write_text(json.dumps(doc, indent=2))
    markdown = _markdown(doc)
    (args.out / "events-latest.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
