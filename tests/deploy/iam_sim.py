"""Just enough of IAM policy evaluation to replay DynamoDB calls against the template's roles.

A DynamoDB call becomes the authorisation requests DynamoDB makes for it (one per item of a
transaction, with ``dynamodb:LeadingKeys`` and ``dynamodb:EnclosingOperation``), and each is
judged as IAM does: an explicit Deny wins, otherwise some Allow must match. Condition
operators it does not implement raise instead of being ignored, so a statement can never be
read as more permissive than it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from deploy.grants import STREAM, TABLE, TRANSACTION_ITEMS, Grant
from tests.deploy.cfn import table_arn

Statement = Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


def leading_keys(*partition_keys: str, enclosing: str | None = None) -> dict[str, list[str]]:
    context = {"dynamodb:LeadingKeys": list(partition_keys)}
    if enclosing is not None:
        context["dynamodb:EnclosingOperation"] = [enclosing]
    return context


def requests_of(operation: str, params: Mapping[str, Any]) -> list[Request]:
    """The requests DynamoDB authorises for one API call (params as botocore takes them)."""
    if operation == "TransactWriteItems":
        requests = []
        for entry in params["TransactItems"]:
            [(kind, item)] = entry.items()
            requests.append(
                Request(
                    TRANSACTION_ITEMS[kind],
                    table_arn(item["TableName"]),
                    leading_keys(_partition_key(item), enclosing=operation),
                )
            )
        return requests
    arn = table_arn(params["TableName"])
    if operation == "Query":
        if "IndexName" in params:
            arn = f"{arn}/index/{params['IndexName']}"
        return [Request("dynamodb:Query", arn, leading_keys(_queried_partition(params)))]
    if operation == "DescribeTable":
        return [Request("dynamodb:DescribeTable", arn)]
    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        return [Request(f"dynamodb:{operation}", arn, leading_keys(_partition_key(params)))]
    raise NotImplementedError(operation)


def _partition_key(params: Mapping[str, Any]) -> str:
    return str((params.get("Key") or params["Item"])["pk"]["S"])


def _queried_partition(params: Mapping[str, Any]) -> str:
    # The partition key condition is the first equality of the key condition.
    match = re.search(r"(#?\w+)\s*=\s*(:\w+)", params["KeyConditionExpression"])
    assert match is not None, params["KeyConditionExpression"]
    return str(params["ExpressionAttributeValues"][match[2]]["S"])


def resource_kind(arn: str, table_name: str) -> str:
    """``arn`` in the terms of ``deploy.grants``: ``table``, ``index/<name>``, ``stream``."""
    table = table_arn(table_name)
    if arn == table:
        return TABLE
    if arn.startswith(f"{table}/index/"):
        return arn.removeprefix(f"{table}/")
    if arn.startswith(f"{table}/stream/"):
        return STREAM
    return arn  # "*" or a foreign ARN: compared as is, so it cannot match by accident


def grants_of(calls: Iterable[tuple[str, Mapping[str, Any]]], table_name: str) -> set[Grant]:
    """What the recorded ``(operation, params)`` calls need, in the terms of deploy.grants."""
    return {
        Grant(request.action, resource_kind(request.resource, table_name))
        for operation, params in calls
        for request in requests_of(operation, params)
    }


def allowed(statements: Iterable[Statement], request: Request) -> bool:
    matching = [statement for statement in statements if _applies(statement, request)]
    if any(statement["Effect"] == "Deny" for statement in matching):
        return False
    return any(statement["Effect"] == "Allow" for statement in matching)


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _applies(statement: Statement, request: Request) -> bool:
    actions = _listed(statement["Action"])
    resources = _listed(statement["Resource"])
    return (
        any(fnmatchcase(request.action.lower(), action.lower()) for action in actions)
        and any(fnmatchcase(request.resource, resource) for resource in resources)
        and all(
            _condition(operator, key, _listed(expected), request.context.get(key))
            for operator, tests in statement.get("Condition", {}).items()
            for key, expected in tests.items()
        )
    )


def _condition(operator: str, key: str, expected: list[str], present: Sequence[str] | None) -> bool:
    values = list(present or [])
    if operator == "Null":
        return (not values) == (expected == ["true"])
    qualifier, _, test = operator.rpartition(":")
    match: Callable[[str, str], bool]
    if test == "StringEquals":
        match = _equals
    elif test == "StringLike":
        match = fnmatchcase
    else:
        raise NotImplementedError(f"condition operator {operator} ({key})")
    hits = [any(match(value, pattern) for pattern in expected) for value in values]
    if qualifier == "ForAllValues":
        return all(hits)  # true when the key is absent: hence the Null tests in the template
    if qualifier in ("ForAnyValue", ""):
        return any(hits)
    raise NotImplementedError(f"condition operator {operator} ({key})")


def _equals(value: str, pattern: str) -> bool:
    return value == pattern
