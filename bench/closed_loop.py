"""A closed-loop load run: N workers, each sending its next request as soon as one returns.

Only requests that complete inside the measured window count, and the processes' CPU time is
read at the window's two edges, so rate, latency and CPU describe the same interval. Closed
loop means latency is measured under the load the workers themselves create (no coordinated-
omission correction): figures are throughput-at-concurrency, not latency-at-a-fixed-rate.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict

import psutil

from bench.stats import LatencySummary, summarize_latencies


class Target(Protocol):
    async def start(self, workers: int) -> None: ...
    async def call(self, worker: int, request: int) -> str | None:
        """None on success, else a short name for what went wrong."""
        ...

    async def close(self) -> None: ...


class LevelResult(TypedDict):
    concurrency: int
    requests: int
    errors: int
    error_kinds: dict[str, int]
    window_seconds: float
    throughput_rps: float
    latency_ms: LatencySummary
    cpu_seconds: dict[str, float]
    """CPU (user + system) used in the window by each watched process, and by the driver."""
    exhausted: bool
    """The request list ran out (fresh-target patterns): the window ended early."""


class CpuWatch:
    def __init__(self, pids: Mapping[str, Sequence[int]]) -> None:
        self._processes = {
            name: [psutil.Process(pid) for pid in role_pids] for name, role_pids in pids.items()
        }
        self._processes["driver"] = [psutil.Process()]

    def read(self) -> dict[str, float]:
        readings = {}
        for name, processes in self._processes.items():
            times = [process.cpu_times() for process in processes]
            readings[name] = sum(t.user + t.system for t in times)
        return readings


@dataclass
class RequestFeed:
    """Hands out request indexes; cycles through the list, or runs out when told not to."""

    size: int
    cycle: bool
    _next: int = 0
    exhausted: bool = field(default=False)

    def take(self) -> int | None:
        if self._next >= self.size and not self.cycle:
            self.exhausted = True
            return None
        index = self._next % self.size
        self._next += 1
        return index


@dataclass
class _Window:
    start: float = float("inf")
    end: float = float("inf")
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, started: float, finished: float, error: str | None) -> None:
        if self.start <= finished <= self.end:
            self.latencies.append(finished - started)
            if error is not None:
                self.errors[error] += 1


async def run_level(
    target: Target,
    feed: RequestFeed,
    concurrency: int,
    warmup_seconds: float,
    duration_seconds: float,
    cpu: CpuWatch,
) -> LevelResult:
    await target.start(concurrency)
    window = _Window()
    stop_at = time.perf_counter() + warmup_seconds + duration_seconds

    async def worker(index: int) -> None:
        while time.perf_counter() < stop_at:
            request = feed.take()
            if request is None:
                return
            started = time.perf_counter()
            error = await target.call(index, request)
            window.record(started, time.perf_counter(), error)

    workers = asyncio.gather(*(worker(index) for index in range(concurrency)))
    await asyncio.wait([workers], timeout=warmup_seconds)
    cpu_before, window.start = cpu.read(), time.perf_counter()
    await asyncio.wait([workers], timeout=max(0.0, stop_at - window.start))
    cpu_after, window.end = cpu.read(), time.perf_counter()
    await workers  # requests still in flight finish outside the window
    await target.close()
    elapsed = max(window.end - window.start, 1e-9)
    completed = len(window.latencies)
    return LevelResult(
        concurrency=concurrency,
        requests=completed,
        errors=sum(window.errors.values()),
        error_kinds=dict(window.errors),
        window_seconds=elapsed,
        throughput_rps=completed / elapsed,
        latency_ms=summarize_latencies(window.latencies),
        cpu_seconds={name: cpu_after[name] - cpu_before[name] for name in cpu_after},
        exhausted=feed.exhausted,
    )
