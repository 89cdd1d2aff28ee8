"""Throughput and p99 latency against concurrency, per endpoint (bench/results/latest.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt
from matplotlib.ticker import ScalarFormatter

from bench.report import pattern_title


def plot(doc: dict[str, Any], path: Path) -> None:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(14, 6.5))
    colours = plt.get_cmap("tab10")
    series: dict[tuple[str, str], dict[str, list[float]]] = {}
    for m in doc["measurements"]:
        points = series.setdefault((m["pattern"], m["backend"]), {})
        points.setdefault(f"{m['mode']}_c", []).append(m["concurrency"])
        points.setdefault(m["mode"], []).append(m["throughput_rps"])
        points.setdefault(f"{m['mode']}_p99", []).append(m["latency_ms"]["p99"])
    for number, ((pattern, backend), points) in enumerate(series.items()):
        colour = colours(number % 10)
        label = f"{pattern_title(pattern)} [{backend}]"
        throughput.plot(points["api_c"], points["api"], "o-", color=colour, label=label)
        throughput.plot(points["floor_c"], points["floor"], "x--", color=colour, alpha=0.6)
        if "http_floor" in points:
            throughput.plot(
                points["http_floor_c"], points["http_floor"], "+:", color=colour, alpha=0.6
            )
        latency.plot(points["api_c"], points["api_p99"], "o-", color=colour, label=label)
    for axes, title, unit in (
        (
            throughput,
            "Throughput (solid: API, dotted: HTTP floor, dashed: raw aioboto3 floor)",
            "requests/s",
        ),
        (latency, "API p99 latency", "ms"),
    ):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xticks(doc["options"]["concurrency"])
        axes.xaxis.set_major_formatter(ScalarFormatter())
        axes.yaxis.set_major_formatter(ScalarFormatter())
        axes.set_xlabel("concurrent connections")
        axes.set_ylabel(unit)
        axes.set_title(title, fontsize=11)
        axes.grid(True, which="both", alpha=0.3)
    handles, labels = throughput.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    figure.suptitle(f"cruddur-messaging benchmark {doc['run_id']}", fontsize=12)
    figure.tight_layout(rect=(0, 0.14, 1, 0.97))
    figure.savefig(path, dpi=110)
    plt.close(figure)
