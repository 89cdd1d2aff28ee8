"""One backend's part of a run: seed it, start the service on it, measure its patterns.

For every pattern and concurrency level the API and its floor are measured back to back, each
by a fresh load-generator process, so the two figures of a ratio share the same minute of a
noisy machine.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypedDict

import httpx

from app.auth import LocalIssuer
from app.ddb import open_client
from app.domain import Message
from app.repositories.messages import message_item
from app.repositories.schema import create_table
from app.settings import Settings
from bench.backends import Backend, BackendName, backend
from bench.capacity import CapacityFigure, computed_capacity
from bench.capacity_measured import measured_capacity
from bench.closed_loop import LevelResult
from bench.dataset import DataSet, Scale, build_dataset
from bench.driver import DriverSpec
from bench.http_floor import HttpFloorConfig, running_http_floor
from bench.latency_proxy import latency_proxy
from bench.load_generator import LoadGenerator
from bench.options import BenchOptions
from bench.patterns import Pattern
from bench.profiling import Profile, finish_recording, start_recording
from bench.seeding import batch_write
from bench.service import Service, running_service
from bench.workload import (
    Descriptor,
    descriptors,
    recent_targets,
    run_size,
    split,
    user_entries,
)

TABLE_NAME = "cruddur-messages-bench"
TOKEN_LIFETIME_SECONDS = 4 * 3600
Mode = Literal["api", "http_floor", "floor"]
MODES: tuple[Mode, ...] = ("api", "http_floor", "floor")
MOTO_MAX_CONCURRENCY = 8


class Measurement(LevelResult):
    pattern: str
    backend: str
    mode: Mode
    cpu_per_1k_requests: dict[str, float]
    round_throughputs: list[float]
    """Every round's req/s; the figures are those of the fastest round (least disturbed)."""


class DatasetInfo(TypedDict):
    users: int
    conversations: int
    hot_conversations: int
    messages: int
    items: int
    seed_seconds: float


@dataclass
class PhaseOutcome:
    backend: BackendName
    backend_version: str
    dataset: DatasetInfo
    service_native: tuple[str, ...] = ()
    measurements: list[Measurement] = field(default_factory=list)
    capacity: list[CapacityFigure] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)


def _settings(endpoint: str) -> Settings:
    return Settings(ddb_endpoint_url=endpoint, table_name=TABLE_NAME, _env_file=None)


async def _seed(endpoint: str, dataset: DataSet) -> int:
    async with AsyncExitStack() as stack:
        client = await open_client(_settings(endpoint), stack)
        await create_table(client, TABLE_NAME)  # each phase starts a fresh backend
        return await batch_write(client, TABLE_NAME, dataset.items())


async def _write_messages(endpoint: str, messages: list[Message]) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(_settings(endpoint), stack)
        await batch_write(client, TABLE_NAME, (message_item(message) for message in messages))


def _tokens(dataset: DataSet, state_dir: Path) -> list[str]:
    issuer = LocalIssuer.load_or_create(state_dir)
    return [
        issuer.mint_access_token(
            sub=user.cognito_sub or "",
            username=user.handle,
            lifetime_seconds=TOKEN_LIFETIME_SECONDS,
        )
        for user in dataset.users
    ]


def _prime_identities(service: Service, tokens: list[str]) -> None:
    """One request per user and process, so the caches are warm as in steady state."""
    for url in service.urls:
        with httpx.Client(base_url=url, timeout=10.0) as http:
            for token in tokens:
                answer = http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
                if answer.status_code != 200:
                    raise RuntimeError(f"/api/me answered {answer.status_code}: {answer.text}")


def _with_rates(result: LevelResult, pattern: Pattern, name: str, mode: Mode) -> Measurement:
    per_1k = {
        role: seconds / result["requests"] * 1000 if result["requests"] else 0.0
        for role, seconds in result["cpu_seconds"].items()
    }
    return Measurement(
        **result,
        pattern=pattern.name,
        backend=name,
        mode=mode,
        cpu_per_1k_requests=per_1k,
        round_throughputs=[result["throughput_rps"]],
    )


def _best_of(rounds: list[Measurement]) -> Measurement:
    best = max(rounds, key=lambda measured: measured["throughput_rps"])
    return {**best, "round_throughputs": [measured["throughput_rps"] for measured in rounds]}


@dataclass
class _Phase:
    options: BenchOptions
    load: LoadGenerator
    started: Backend
    endpoint: str
    """Where the measured targets reach the backend (through the latency proxy, if any)."""
    service: Service
    http_floor: Service
    dataset: DataSet
    tokens: list[str]
    profiles: list[Profile] = field(default_factory=list)

    def drive(
        self, pattern: Pattern, mode: Mode, level: int, requests: list[Descriptor]
    ) -> Measurement:
        tag = f"{pattern.name}-{mode}-{level}"
        if pattern.recent_targets:
            requests = self._send_targets(pattern, requests, tag)
        server = {"api": self.service, "http_floor": self.http_floor}.get(mode)
        spec = DriverSpec(
            mode=mode,
            pattern=pattern.name,
            concurrency=level,
            warmup_seconds=self.options.warmup_seconds,
            duration_seconds=self.options.duration_seconds,
            watch={"backend": [self.started.pid]}
            | ({"service": list(server.pids)} if server is not None else {}),
            users=user_entries(self.dataset),
            tokens=self.tokens if mode == "api" else [],
            requests=requests,
            service_host=(server or self.service).host,
            service_ports=list((server or self.service).ports),
            ddb_endpoint=self.endpoint,
            table_name=TABLE_NAME,
            idempotency_prefix=f"bench-{time.time_ns()}-{tag}",
        )
        recorder = None
        if mode == "api" and f"{pattern.name}:{level}" in self.options.profiles:
            raw_path = self.options.out_dir / "tmp" / f"profile-{tag}.txt"
            window = self.options.warmup_seconds + self.options.duration_seconds
            recorder = start_recording(self.service.pids[0], window, raw_path)
        result = self.load.run(spec, tag)
        if recorder is not None:
            self.profiles.append(finish_recording(recorder, raw_path, pattern.name, level))
        return _with_rates(result, pattern, self.started.name, mode)

    def _send_targets(
        self, pattern: Pattern, template: list[Descriptor], tag: str
    ) -> list[Descriptor]:
        """The run's targets, stored now (outside the measured window) straight to the backend,
        as the seeding is; its requests, which name them."""
        seconds = self.options.warmup_seconds + self.options.duration_seconds
        requests, messages = recent_targets(
            template,
            self.dataset,
            count=run_size(pattern, template, seconds),
            run=f"{time.time_ns()}-{tag}",
            sent_at=datetime.now(UTC),
        )
        asyncio.run(_write_messages(self.started.endpoint, messages))
        return requests

    def measure(
        self, pattern: Pattern, requests: list[Descriptor], levels: tuple[int, ...]
    ) -> list[Measurement]:
        """Rounds of (API, HTTP floor, floor) at each level; the best round of each is kept.

        On a shared machine a neighbour can steal a window's CPU; alternating the API and its
        floors, and keeping each one's least disturbed round, compares like with like.
        """
        plan = [
            (level, mode) for _ in range(self.options.rounds) for level in levels for mode in MODES
        ]
        # A fresh target is used up by one request: every run gets its own slice (or its own
        # messages, written before it).
        sliced = pattern.fresh_targets and not pattern.recent_targets
        slices = split(requests, len(plan)) if sliced else [requests] * len(plan)
        runs: dict[tuple[int, Mode], list[Measurement]] = defaultdict(list)
        for (level, mode), mine in zip(plan, slices, strict=True):
            runs[level, mode].append(self.drive(pattern, mode, level, mine))
        return [_best_of(runs[level, mode]) for level in levels for mode in MODES]


def run_phase(
    name: BackendName,
    patterns: tuple[Pattern, ...],
    scale: Scale,
    options: BenchOptions,
    workdir: Path,
) -> PhaseOutcome:
    dataset = build_dataset(scale, options.seed)
    requests = {pattern: descriptors(pattern, dataset, options.seed) for pattern in patterns}
    samples = {pattern: listed[: options.capacity_samples] for pattern, listed in requests.items()}
    levels = options.concurrency
    if name == "moto":
        # One request at a time by design: deeper queues only add waiting, then hit the
        # service's DynamoDB read timeout.
        levels = tuple(level for level in levels if level <= MOTO_MAX_CONCURRENCY) or (1,)
    state_dir = workdir / f"state-{name}"
    state_dir.mkdir(parents=True, exist_ok=True)
    with backend(name, workdir) as started:
        seeding_started = time.perf_counter()
        items = asyncio.run(_seed(started.endpoint, dataset))
        info = DatasetInfo(
            users=len(dataset.users),
            conversations=len(dataset.conversations),
            hot_conversations=sum(c.hot for c in dataset.conversations),
            messages=dataset.message_count,
            items=items,
            seed_seconds=time.perf_counter() - seeding_started,
        )
        outcome = PhaseOutcome(name, started.version, info)
        outcome.capacity = computed_capacity(dataset, samples)
        if name == "dynalite":  # before the load adds messages, so both see the seeded items
            outcome.capacity += asyncio.run(
                measured_capacity(started.endpoint, TABLE_NAME, name, dataset, samples)
            )
        tokens = _tokens(dataset, state_dir)
        with ExitStack() as running:
            endpoint = started.endpoint  # the measured targets' way to the backend
            if options.ddb_latency_ms:
                endpoint = running.enter_context(latency_proxy(endpoint, options.ddb_latency_ms))
            service = running.enter_context(
                running_service(
                    endpoint,
                    TABLE_NAME,
                    state_dir,
                    workdir / f"service-{name}.log",
                    options.service_settings,
                    options.service_processes,
                )
            )
            http_floor = running.enter_context(
                running_http_floor(
                    HttpFloorConfig(
                        ddb_endpoint=endpoint, table_name=TABLE_NAME, users=user_entries(dataset)
                    ),
                    workdir,
                )
            )
            outcome.service_native = service.native
            _prime_identities(service, tokens)
            load = running.enter_context(LoadGenerator(workdir, name))
            phase = _Phase(options, load, started, endpoint, service, http_floor, dataset, tokens)
            for pattern in patterns:
                print(f"[bench] {name}: {pattern.name}", file=sys.stderr, flush=True)
                outcome.measurements += phase.measure(pattern, requests[pattern], levels)
            outcome.profiles = phase.profiles
    return outcome
