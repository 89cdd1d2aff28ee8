"""``python -m bench.compare BEFORE AFTER [--out FILE]``: an A/B table from runs' JSON files.

BEFORE and AFTER are directories of ``run-*.json`` written by ``python -m bench.run`` (or
single files). Runs of each side should alternate in one session on one machine; every run's
figure is shown, since on a shared 2-core machine the spread says as much as the middle.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.patterns import BY_NAME
from bench.report import markdown_table, pattern_title

Level = tuple[str, str, int]
"""(pattern, backend, concurrency)"""


def load_runs(location: Path) -> list[dict[str, Any]]:
    files = sorted(location.glob("run-*.json")) if location.is_dir() else [location]
    if not files:
        raise SystemExit(f"no run-*.json under {location}")
    return [json.loads(file.read_text()) for file in files]


def _by_level(runs: Sequence[dict[str, Any]]) -> dict[Level, dict[str, list[float]]]:
    levels: dict[Level, dict[str, list[float]]] = {}

    def figures(pattern: str, backend: str, concurrency: int) -> dict[str, list[float]]:
        empty: dict[str, list[float]] = {
            "ratio": [],
            "target": [],
            "rps": [],
            "p50": [],
            "p99": [],
            "cpu": [],
        }
        return levels.setdefault((pattern, backend, concurrency), empty)

    for run in runs:
        for ratio in run["ratios"]:
            level = figures(ratio["pattern"], ratio["backend"], ratio["concurrency"])
            level["ratio"].append(ratio["ratio"])
            level["target"].append(ratio["target"])
        for measured in run["measurements"]:
            if measured["mode"] == "api":
                level = figures(measured["pattern"], measured["backend"], measured["concurrency"])
                level["rps"].append(measured["throughput_rps"])
                level["p50"].append(measured["latency_ms"]["p50"])
                level["p99"].append(measured["latency_ms"]["p99"])
                level["cpu"].append(measured["cpu_per_1k_requests"].get("service", 0.0))
    return levels


def _figures(values: Sequence[float], digits: int) -> str:
    return " / ".join(f"{value:.{digits}f}" for value in values) if values else "-"


def comparison(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], note: str = ""
) -> str:
    """Markdown: per level, every run's API/floor ratio, API req/s, p50, p99, service CPU."""
    old, new = _by_level(before), _by_level(after)
    rows = []
    order = list(BY_NAME)
    for level in sorted(old.keys() & new.keys(), key=lambda lv: (order.index(lv[0]), lv[2])):
        pattern, backend, concurrency = level
        target = new[level]["target"][0] if new[level]["target"] else None
        met = (
            "-"
            if target is None
            else f"{sum(r >= target for r in new[level]['ratio'])}/{len(new[level]['ratio'])}"
        )
        rows.append(
            [
                pattern_title(pattern),
                backend,
                concurrency,
                *(
                    _figures(side[level][name], digits)
                    for name, digits in (
                        ("ratio", 2),
                        ("rps", 0),
                        ("p50", 1),
                        ("p99", 1),
                        ("cpu", 2),
                    )
                    for side in (old, new)
                ),
                "-" if target is None else f">= {target}",
                met,
            ]
        )
    header = [
        "pattern",
        "backend",
        "conc.",
        "API/floor before",
        "API/floor after",
        "API req/s before",
        "API req/s after",
        "p50 ms before",
        "p50 ms after",
        "p99 ms before",
        "p99 ms after",
        "service CPU s/1k before",
        "service CPU s/1k after",
        "target",
        "after runs meeting it",
    ]
    labels = [
        f"- **{side}** (runs {', '.join(run['run_id'] for run in runs)}): "
        + "; ".join(sorted({run["label"] for run in runs if run["label"]}))
        for side, runs in (("before", before), ("after", after))
    ]
    intro = [note, ""] if note else []
    return "\n".join(
        ["# A/B comparison", "", *intro, *labels, "", *markdown_table(header, rows), ""]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("before", type=Path, help="directory of run-*.json (or one file)")
    parser.add_argument("after", type=Path, help="directory of run-*.json (or one file)")
    parser.add_argument("--out", type=Path, help="write the Markdown here instead of stdout")
    parser.add_argument("--note", default="", help="a paragraph put above the table")
    args = parser.parse_args(argv)
    text = comparison(load_runs(args.before), load_runs(args.after), args.note)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
