"""Command-line options of ``python -m bench.run``, with the full and the ``--quick`` presets."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.dataset import Scale
from bench.patterns import PATTERNS, Pattern
from bench.processes import REPO_ROOT

BackendChoice = Literal["auto", "dynalite", "moto"]


@dataclass(frozen=True)
class BenchOptions:
    concurrency: tuple[int, ...]
    warmup_seconds: float
    duration_seconds: float
    scale: Scale
    """The main data set (dynalite)."""
    moto_scale: Scale
    """The small data set for the transactional paths: moto slows down as its table grows."""
    backend: BackendChoice
    patterns: tuple[Pattern, ...]
    out_dir: Path
    capacity_samples: int
    rounds: int
    seed: int
    profiles: tuple[str, ...]
    """``PATTERN:CONCURRENCY`` to record with py-spy during that API level."""
    service_settings: dict[str, str]
    """Extra ``CRUDDUR_*`` settings for the service, for A/B experiments."""
    service_processes: int
    """Service processes, each on its own port; the load spreads over them round-robin."""
    label: str
    """What this run is, in words (e.g. which code it measured)."""
    ddb_latency_ms: float = 0.0
    """Round-trip time added between every measured target and DynamoDB (bench/latency_proxy)."""
    quick: bool = False
    argv: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Preset:
    concurrency: tuple[int, ...]
    warmup_seconds: float
    duration_seconds: float
    scale: Scale
    moto_scale: Scale
    capacity_samples: int
    rounds: int


# Full: ~35k items, 4 hot conversations of 2,500 messages; a few minutes on 2 cores. moto's
# transactions copy its whole store, so its table stays small (60 users, 30 conversations).
FULL = Preset(
    concurrency=(1, 8, 32),
    warmup_seconds=0.5,
    duration_seconds=3.0,
    scale=Scale(500, 3000, 6, 4, 2500),
    moto_scale=Scale(60, 30, 1, 0, 0),
    capacity_samples=100,
    rounds=3,
)
QUICK = Preset(
    concurrency=(1, 4),
    warmup_seconds=0.2,
    duration_seconds=0.6,
    scale=Scale(24, 40, 3, 1, 60),
    moto_scale=Scale(16, 8, 1, 0, 0),
    capacity_samples=10,
    rounds=1,
)


def _levels(text: str) -> tuple[int, ...]:
    levels = tuple(int(part) for part in text.split(",") if part.strip())
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels are positive integers, e.g. 1,8,32")
    return levels


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME=VALUE, e.g. rate_limit_enabled=false")
    return f"CRUDDUR_{name.strip().upper()}", value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Throughput, latency, CPU per request and capacity units of every "
        "endpoint, against the raw-aioboto3 floor; writes JSON, Markdown and a PNG.",
    )
    p.add_argument("--quick", action="store_true", help="tiny data set and windows (smoke test)")
    p.add_argument("--concurrency", type=_levels, help="levels, e.g. 1,8,32")
    p.add_argument("--duration", type=float, help="measured seconds per level")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each window")
    p.add_argument("--users", type=int, help="users in the main data set")
    p.add_argument("--conversations", type=int, help="conversations in the main data set")
    p.add_argument("--hot-messages", type=int, help="messages in each hot conversation")
    p.add_argument(
        "--backend",
        choices=("auto", "dynalite", "moto"),
        default="auto",
        help="backend of the non-transactional patterns; auto = dynalite when node/npm exist",
    )
    p.add_argument(
        "--patterns",
        default=",".join(pattern.name for pattern in PATTERNS),
        help="comma-separated subset of: " + ", ".join(pattern.name for pattern in PATTERNS),
    )
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    p.add_argument(
        "--rounds", type=int, help="(API, HTTP floor, floor) rounds per level; best is kept"
    )
    p.add_argument(
        "--ddb-latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="round-trip time added between every measured target and the backend "
        "(a regional DynamoDB answers in milliseconds, loopback in microseconds)",
    )
    p.add_argument("--seed", type=int, default=6, help="data set and workload seed")
    p.add_argument("--label", default="", help="a note saved with the results (A/B runs)")
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="PATTERN:CONCURRENCY",
        help="py-spy the service during that API level (repeatable)",
    )
    p.add_argument(
        "--service-processes",
        type=int,
        choices=range(1, 9),
        default=1,
        metavar="N",
        help="run N service processes (instances behind a balancer); the floor is unchanged",
    )
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_setting,
        help="a service setting for A/B runs, e.g. rate_limit_enabled=false (repeatable)",
    )
    return p


def parse_options(argv: list[str]) -> BenchOptions:
    args = parser().parse_args(argv)
    preset = QUICK if args.quick else FULL
    scale = Scale(
        users=args.users or preset.scale.users,
        conversations=args.conversations or preset.scale.conversations,
        messages_per_conversation=preset.scale.messages_per_conversation,
        hot_conversations=preset.scale.hot_conversations,
        messages_per_hot_conversation=args.hot_messages
        or preset.scale.messages_per_hot_conversation,
    )
    by_name = {pattern.name: pattern for pattern in PATTERNS}
    try:
        patterns = tuple(by_name[name.strip()] for name in args.patterns.split(",") if name)
    except KeyError as unknown:
        raise SystemExit(f"unknown pattern {unknown}") from None
    return BenchOptions(
        concurrency=args.concurrency or preset.concurrency,
        warmup_seconds=preset.warmup_seconds if args.warmup is None else args.warmup,
        duration_seconds=args.duration or preset.duration_seconds,
        scale=scale,
        moto_scale=preset.moto_scale,
        backend=args.backend,
        patterns=patterns,
        out_dir=args.out.resolve(),  # children run elsewhere (the service in its state dir)
        capacity_samples=preset.capacity_samples,
        rounds=args.rounds or preset.rounds,
        seed=args.seed,
        profiles=tuple(args.profile),
        service_settings=dict(args.setting),
        service_processes=args.service_processes,
        label=args.label,
        ddb_latency_ms=args.ddb_latency_ms,
        quick=args.quick,
        argv=tuple(argv),
    )
