"""Latency percentiles from raw samples, and the summary of one measured window."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict


class LatencySummary(TypedDict):
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def percentile(ordered: Sequence[float], rank: float) -> float:
    """Nearest-rank percentile of sorted samples: the value at or below which ``rank`` % lie.

    Exact, from every raw sample (no histogram buckets), which a few hundred thousand
    samples per window easily allow.
    """
    if not ordered:
        return 0.0
    position = max(1, math.ceil(rank / 100 * len(ordered)))
    return ordered[position - 1]


def summarize_latencies(seconds: Sequence[float]) -> LatencySummary:
    """Milliseconds."""
    ordered = sorted(seconds)
    in_ms = [value * 1000 for value in ordered]
    return LatencySummary(
        p50=percentile(in_ms, 50),
        p95=percentile(in_ms, 95),
        p99=percentile(in_ms, 99),
        max=in_ms[-1] if in_ms else 0.0,
        mean=sum(in_ms) / len(in_ms) if in_ms else 0.0,
    )
