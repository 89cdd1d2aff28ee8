"""``python -m bench.scale``: the capacity, cost and limits model for 10k, 1M and 10M users.

Prints Markdown tables; ``--workload FILE`` (TOML or JSON) and the flags override the default
workload; ``--plot PATH`` also writes the figure docs/scaling.md shows, and ``--update-doc PATH``
rewrites the tables in that document (see ``bench.scale.doc``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.scale import report
from bench.scale.doc import update
from bench.scale.measured import latest_run, run_inputs, stream_config
from bench.scale.units import request_units
from bench.scale.workload import WORKLOAD_FIELDS, load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--workload", type=Path, help="TOML or JSON file with workload fields")
    parser.add_argument("--run", type=Path, help="benchmark run JSON (default: latest.md's run)")
    parser.add_argument("--plot", type=Path, help="also write the cost/capacity figure here")
    parser.add_argument(
        "--update-doc", type=Path, help="rewrite the generated tables of this document"
    )
    for name in WORKLOAD_FIELDS:
        if name != "daily_active_users":
            parser.add_argument("--" + name.replace("_", "-"), dest=name, metavar="VALUE")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    overrides = {name: getattr(args, name, None) for name in WORKLOAD_FIELDS}
    stream = stream_config()
    try:
        workload = load(args.workload, overrides)
        run = run_inputs(args.run or latest_run(), stream)
    except (OSError, ValueError) as error:  # a bad file or value: one line, exit status 2
        parser.error(str(error))
    units = request_units(workload)
    regions = report.regions(workload, units, run, stream)
    print("\n\n".join(regions.values()))
    if args.update_doc:
        try:
            update(args.update_doc, regions)
        except (OSError, ValueError) as error:
            parser.error(f"{args.update_doc}: {error}")
    if args.plot:
        from bench.scale.plot import plot  # matplotlib only when asked: keeps the CLI fast

        plot(workload, units, run, stream, args.plot)


if __name__ == "__main__":
    main()
