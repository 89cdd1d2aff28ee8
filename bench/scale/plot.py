"""The figure of docs/scaling.md: monthly cost by component against daily users, with the
user counts where each growing limit is crossed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt

from bench.scale.measured import RunInputs, StreamConfig
from bench.scale.model import Tier, tier
from bench.scale.units import RequestUnits
from bench.scale.workload import TIERS, Workload

POINTS = 40


def _users() -> list[int]:
    low, high = TIERS[0], TIERS[-1]
    return [round(low * (high / low) ** (step / (POINTS - 1))) for step in range(POINTS)]


def plot(
    workload: Workload, units: RequestUnits, run: RunInputs, stream: StreamConfig, path: Path
) -> None:
    tiers = [tier(workload.at(users), units, run, stream) for users in _users()]
    users = [t.daily_active_users for t in tiers]
    series: dict[str, list[float]] = {
        "DynamoDB on-demand": [t.on_demand_monthly for t in tiers],
        "DynamoDB provisioned, auto scaled": [t.provisioned_monthly for t in tiers],
        "DynamoDB storage (after the history months)": [t.storage_monthly for t in tiers],
        "API tasks (Fargate, 1 vCPU)": [t.fargate_monthly for t in tiers],
        "stream Lambda": [t.lambda_monthly for t in tiers],
    }
    figure, axes = plt.subplots(figsize=(11, 6.5))
    for label, values in series.items():
        axes.plot(users, values, label=label)
    top = max(max(values) for values in series.values())
    crossings: dict[int, list[str]] = {}
    for index, limit in enumerate(tiers[0].limits):
        crossing = _first_crossing(tiers, index)
        if limit.ranked and crossing is not None:
            crossings.setdefault(crossing, []).append(limit.name)
    for crossing, names in crossings.items():
        axes.axvline(crossing, color="grey", linestyle=":", linewidth=1)
        axes.text(crossing, top, " " + "\n ".join(names), rotation=90, va="top", fontsize=7)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("daily active users")
    axes.set_ylabel("USD per month (us-east-1)")
    axes.set_title(
        f"Monthly cost by component; dotted: a default limit is crossed ({run.path.name})"
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _first_crossing(tiers: list[Tier], index: int) -> int | None:
    for current in tiers:
        if current.limits[index].utilisation >= 1:
            return current.daily_active_users
    return None
