"""The run's results as one JSON document (the source of the Markdown table and the plot)."""

from __future__ import annotations

from typing import Any, TypedDict

from bench.phase import Measurement

SCHEMA_VERSION = 1
FLOOR_SHARE_TARGET = 0.7
"""Issue 17's target for every pattern: API throughput as a share of the raw-aioboto3 floor."""


class Ratio(TypedDict):
    pattern: str
    backend: str
    concurrency: int
    api_rps: float
    floor_rps: float
    ratio: float
    cpu_ratio: float
    """Floor CPU / service CPU per request: the throughput ratio if both were CPU-bound.

    Far less sensitive to a noisy neighbour than the throughput ratio."""
    target: float
    met: bool


def floor_ratios(measurements: list[Measurement]) -> list[Ratio]:
    floors = {
        (m["pattern"], m["backend"], m["concurrency"]): m
        for m in measurements
        if m["mode"] == "floor"
    }
    ratios = []
    for api in (m for m in measurements if m["mode"] == "api"):
        floor = floors.get((api["pattern"], api["backend"], api["concurrency"]))
        if floor is None:
            continue
        ratio = api["throughput_rps"] / floor["throughput_rps"] if floor["throughput_rps"] else 0.0
        service_cpu = api["cpu_per_1k_requests"].get("service", 0.0)
        floor_cpu = floor["cpu_per_1k_requests"].get("driver", 0.0)
        ratios.append(
            Ratio(
                pattern=api["pattern"],
                backend=api["backend"],
                concurrency=api["concurrency"],
                api_rps=api["throughput_rps"],
                floor_rps=floor["throughput_rps"],
                ratio=ratio,
                cpu_ratio=floor_cpu / service_cpu if service_cpu else 0.0,
                target=FLOOR_SHARE_TARGET,
                met=ratio >= FLOOR_SHARE_TARGET,
            )
        )
    return ratios


def document(**sections: Any) -> dict[str, Any]:
    """The JSON document, sections in a stable order after the schema version."""
    return {"schema_version": SCHEMA_VERSION, **sections}
