"""GetRecords output reshaped into the event AWS Lambda delivers for DynamoDB Streams."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# What Lambda copies from a stream record besides ``dynamodb`` (userIdentity marks TTL deletes).
_RECORD_FIELDS = (
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "userIdentity",
)


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created_at = change.get("ApproximateCreationDateTime")
    if isinstance(created_at, datetime):
        # botocore parses the timestamp; Lambda events carry epoch seconds.
        change["ApproximateCreationDateTime"] = created_at.timestamp()
    return {
        **{name: record[name] for name in _RECORD_FIELDS if name in record},
        "eventSourceARN": stream_arn,
        "dynamodb": change,
    }


def lambda_event(records: Sequence[Mapping[str, Any]], stream_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(record, stream_arn) for record in records]}


def sequence_number(record: Mapping[str, Any]) -> str:
    """The record's position in its shard; Lambda's ``itemIdentifier`` for a failed record."""
    return str(record["dynamodb"]["SequenceNumber"])


def with_binary_decoded(event: Mapping[str, Any]) -> dict[str, Any]:
    """Lambda's JSON event carries binary attributes (envelopes) base64-encoded; GetRecords,
    and so the local worker, gives bytes. Decoded here, the handler sees one shape."""
    records = []
    for record in event.get("Records", []):
        change = dict(record.get("dynamodb", {}))
        image = change.get("NewImage")
        if image is not None:
            change["NewImage"] = {
                name: {"B": base64.b64decode(value["B"])}
                if isinstance(value.get("B"), str)
                else value
                for name, value in image.items()
            }
        records.append({**record, "dynamodb": change})
    return {**event, "Records": records}
