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
    http_floor_rps: float
    floor_rps: float
    ratio: float
    http_floor_share: float
    """HTTP floor / floor req/s: the ceiling of any service on this HTTP stack."""
    api_share_of_http_floor: float
    """API / HTTP floor req/s: what FastAPI and our code keep of that ceiling."""
    cpu_ms: dict[str, float]
    """CPU per request split in layers: ``dynamodb_calls`` (the floor's), ``http_hop``
    (the HTTP floor's extra), ``framework_and_app`` (the API's extra over the HTTP floor)."""
    cpu_ratio: float
    """Floor CPU / service CPU per request: the throughput ratio if both were CPU-bound.

    Far less sensitive to a noisy neighbour than the throughput ratio."""
    target: float
    met: bool


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def floor_ratios(measurements: list[Measurement]) -> list[Ratio]:
    by_mode = {(m["mode"], m["pattern"], m["backend"], m["concurrency"]): m for m in measurements}
    ratios = []
    for api in (m for m in measurements if m["mode"] == "api"):
        level = (api["pattern"], api["backend"], api["concurrency"])
        floor, http_floor = by_mode.get(("floor", *level)), by_mode.get(("http_floor", *level))
        if floor is None or http_floor is None:
            continue
        ratio = _share(api["throughput_rps"], floor["throughput_rps"])
        service_cpu = api["cpu_per_1k_requests"].get("service", 0.0)
        http_floor_cpu = http_floor["cpu_per_1k_requests"].get("service", 0.0)
        floor_cpu = floor["cpu_per_1k_requests"].get("driver", 0.0)
        ratios.append(
            Ratio(
                pattern=api["pattern"],
                backend=api["backend"],
                concurrency=api["concurrency"],
                api_rps=api["throughput_rps"],
                http_floor_rps=http_floor["throughput_rps"],
                floor_rps=floor["throughput_rps"],
                ratio=ratio,
                http_floor_share=_share(http_floor["throughput_rps"], floor["throughput_rps"]),
                api_share_of_http_floor=_share(api["throughput_rps"], http_floor["throughput_rps"]),
                cpu_ms={
                    "dynamodb_calls": floor_cpu,
                    "http_hop": http_floor_cpu - floor_cpu,
                    "framework_and_app": service_cpu - http_floor_cpu,
                },
                cpu_ratio=_share(floor_cpu, service_cpu),
                target=FLOOR_SHARE_TARGET,
                met=ratio >= FLOOR_SHARE_TARGET,
            )
        )
    return ratios


def document(**sections: Any) -> dict[str, Any]:
    """The JSON document, sections in a stable order after the schema version."""
    return {"schema_version": SCHEMA_VERSION, **sections}
