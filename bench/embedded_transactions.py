"""How a TransactWriteItems on the embedded server costs as its table grows.

    .venv/bin/python -m bench.embedded_transactions --sizes 100,1000,3000,100000

Starts scripts.embedded as a child process (as ``make run`` does), creates the service's table,
fills it to each size with BatchWriteItem, then times, at each size, a 2-item transaction that
commits, one that is cancelled (its second item's condition fails) and a plain PutItem for
comparison. Prints a Markdown table of medians in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from app.repositories.schema import table_definition
from bench.processes import free_port
from scripts.embedded import embedded_dynamodb

TABLE = "bench-embedded-transactions"
BATCH = 25


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - the embedded server checks nothing
    )


def _item(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, "text": {"S": "x" * 100}}


def _fill(client: Any, start: int, stop: int) -> None:
    for first in range(start, stop, BATCH):
        requests = [
            {"PutRequest": {"Item": _item(f"FILL#{n % 500}", f"{n:09d}")}}
            for n in range(first, min(first + BATCH, stop))
        ]
        client.batch_write_item(RequestItems={TABLE: requests})


def _median_ms(action: Callable[[int], None], repeats: int) -> float:
    durations = []
    for attempt in range(repeats):
        started = time.perf_counter()
        action(attempt)
        durations.append((time.perf_counter() - started) * 1000)
    return statistics.median(durations)


def measure(client: Any, size: int, repeats: int) -> dict[str, float]:
    def committed(attempt: int) -> None:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _item(f"T#{size}#{attempt}", "a")}},
                {"Put": {"TableName": TABLE, "Item": _item(f"T#{size}#{attempt}", "b")}},
            ]
        )

    def cancelled(attempt: int) -> None:
        try:
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": _item(f"C#{size}#{attempt}", "a")}},
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": _item("FILL#0", f"{0:09d}"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except client.exceptions.TransactionCanceledException:
            return
        raise AssertionError("the transaction should have been cancelled")

    def put(attempt: int) -> None:
        client.put_item(TableName=TABLE, Item=_item(f"P#{size}#{attempt}", "a"))

    return {
        "transaction_ms": _median_ms(committed, repeats),
        "cancelled_ms": _median_ms(cancelled, repeats),
        "put_ms": _median_ms(put, repeats),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,3000", help="comma-separated item counts")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    with (
        tempfile.TemporaryDirectory() as scratch,
        embedded_dynamodb(free_port(), Path(scratch) / "moto.log") as endpoint,
    ):
        client = _client(endpoint)
        client.create_table(**table_definition(TABLE))
        print("| items | 2-item transaction | cancelled transaction | PutItem |")
        print("|---:|---:|---:|---:|")
        filled = 0
        for size in sizes:
            _fill(client, filled, size)
            filled = size
            figures = measure(client, size, args.repeats)
            print(
                f"| {size:,} | {figures['transaction_ms']:.1f} ms | "
                f"{figures['cancelled_ms']:.1f} ms | {figures['put_ms']:.1f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
