"""Inputs the benchmark measured (a run's JSON) and the deployment configured (the template).

CPU per request is the service's CPU seconds per 1,000 requests, at the highest concurrency
the run measured each pattern (a busy process amortises its loop best, as a loaded task
would). The run is the one ``bench/results/latest.md`` reports unless another is named.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.patterns import PATTERNS, SEND_MESSAGE
from bench.processes import REPO_ROOT
from bench.workload import HOT_SHARE

RESULTS = REPO_ROOT / "bench" / "results"
TEMPLATE = REPO_ROOT / "deploy" / "template.yaml"
NEEDED = tuple(pattern for pattern in PATTERNS if pattern.contract)
"""The patterns a run must have measured: the contract's (A-D). The model's mix has no edits
or deletes; a run's figures for them are kept, not needed."""


def latest_run() -> Path:
    """The run ``latest.md`` reports (its title names the run id)."""
    title = (RESULTS / "latest.md").read_text().splitlines()[0]
    return RESULTS / f"run-{title.split()[-1]}.json"


@dataclass(frozen=True, slots=True)
class Coalescing:
    """How many row updates the stream handler makes per message, at one load."""

    messages_per_second: float
    messages_per_batch: float
    updates_per_message: float


@dataclass(frozen=True, slots=True)
class RunInputs:
    path: Path
    cpu_ms: dict[str, float]
    """Service CPU milliseconds per request, by pattern."""
    cpu_source: dict[str, str]
    """Where each figure was measured: backend and concurrency."""
    coalescing: list[Coalescing]
    """At each concurrency the run measured pattern C (sends into existing conversations)."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """The event source mapping and function as deploy/template.yaml configures them."""

    batch_size: int
    batching_window_seconds: float
    parallelization_factor: int
    memory_mb: int


def distinct_share(probabilities: list[float], batch: float) -> float:
    """Expected distinct conversations over messages, for ``batch`` messages drawn with these
    per-conversation probabilities: the handler makes one update per conversation and batch."""
    if batch <= 0:
        return 1.0
    distinct = sum(1.0 - math.pow(1.0 - p, batch) for p in probabilities)
    return distinct / batch


def _benchmark_coalescing(doc: dict[str, Any], stream: StreamConfig) -> list[Coalescing]:
    """What the handler would have coalesced had it consumed the run's sends: the send rate
    the run measured, in batching windows of the template's length, with the workload's mix
    (``HOT_SHARE`` of sends into the hot conversations, the rest uniform)."""
    [phase] = [p for p in doc["phases"] if SEND_MESSAGE.name in p["patterns"]]
    conversations = phase["dataset"]["conversations"]
    hot = phase["dataset"]["hot_conversations"]
    cold = (1 - HOT_SHARE) / conversations
    probabilities = [HOT_SHARE / hot + cold] * hot + [cold] * (conversations - hot)
    found = []
    for m in doc["measurements"]:
        if m["pattern"] == SEND_MESSAGE.name and m["mode"] == "api":
            rate = m["throughput_rps"]
            batch = min(stream.batch_size, rate * stream.batching_window_seconds)
            found.append(Coalescing(rate, batch, distinct_share(probabilities, batch)))
    return found


def run_inputs(path: Path, stream: StreamConfig) -> RunInputs:
    doc = json.loads(path.read_text())
    busiest: dict[str, dict[str, Any]] = {}
    for m in doc["measurements"]:
        if m["mode"] != "api":
            continue
        known = busiest.get(m["pattern"])
        if known is None or m["concurrency"] > known["concurrency"]:
            busiest[m["pattern"]] = m
    missing = sorted({p.name for p in NEEDED} - set(busiest))
    if missing:
        raise ValueError(f"{path.name} measured no {', '.join(missing)}: pass a full run")
    return RunInputs(
        path,
        {name: m["cpu_per_1k_requests"]["service"] for name, m in busiest.items()},
        {name: f"{m['backend']}, concurrency {m['concurrency']}" for name, m in busiest.items()},
        _benchmark_coalescing(doc, stream),
    )


def _number(text: str, name: str, after: str = "") -> float:
    start = text.index(after) if after else 0
    found = re.search(rf"^\s*{name}:\s*([0-9.]+)", text[start:], re.MULTILINE)
    if found is None:
        raise ValueError(f"{name} not found in {TEMPLATE.name}")
    return float(found.group(1))


def stream_config(template: Path = TEMPLATE) -> StreamConfig:
    text = template.read_text()
    return StreamConfig(
        batch_size=int(_number(text, "BatchSize", "StreamEventSourceMapping:")),
        batching_window_seconds=_number(
            text, "MaximumBatchingWindowInSeconds", "StreamEventSourceMapping:"
        ),
        parallelization_factor=int(
            _number(text, "ParallelizationFactor", "StreamEventSourceMapping:")
        ),
        memory_mb=int(_number(text, "MemorySize", "StreamHandlerFunction:")),
    )


def poisson_updates_per_message(rate: float, window: float) -> float:
    """Row updates per message for one conversation receiving ``rate`` messages/s, Poisson,
    coalesced per batching window: windows with a message over messages."""
    expected = rate * window
    if expected <= 0:
        return 1.0
    return float(-math.expm1(-expected) / expected)
