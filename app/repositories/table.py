"""One table, spoken to through one shared client: serialization and botocore errors handled once.

Repositories call these primitives with plain Python values; everything that can go wrong on
the wire becomes either a repository-level signal (``ConditionFailed``,
``TransactionCancelled``) that the calling repository interprets, or a domain error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from app.domain import Page
from app.errors import InvalidInput, ServiceError, Unavailable
from app.text import UNSTORABLE_TEXT, is_storable, storable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

Item = dict[str, Any]
WriteOp = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
UNAVAILABLE_CODES = frozenset({"InternalServerError", "ServiceUnavailable"})
# TransactWriteItems names a throttled item's cancellation reason differently.
THROTTLING_REASONS = THROTTLING_CODES | {"ThrottlingError", "ProvisionedThroughputExceeded"}


class ConditionFailed(Exception):
    """A conditional write did not apply; the calling repository says what that means."""


class TableExists(Exception):
    """CreateTable found the table already there (or being created)."""


class OperationUnsupported(Exception):
    """The server does not implement the operation (dynalite has no TTL API)."""


class StreamPositionLost(Exception):
    """A stream iterator expired, or its position was trimmed (records older than 24 h)."""


class TableMissing(Unavailable):
    default_code = "table_missing"


class TransactionCancelled(Exception):
    """TransactWriteItems was cancelled; ``reasons`` holds one code (or None) per operation."""

    def __init__(self, reasons: Sequence[str | None]) -> None:
        super().__init__(f"transaction cancelled: {list(reasons)}")
        self.reasons = list(reasons)

    def failed(self, index: int) -> bool:
        return self.reasons[index] is not None


@dataclass(slots=True)
class CapacityLog:
    """Collects the ConsumedCapacity DynamoDB reports, for the pattern scripts and benchmarks."""

    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, operation: str, consumed: Any) -> None:
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            if entry:
                self.entries.append((operation, entry))


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values; None means "no such attribute", so it is left out.

    Text that UTF-8 cannot encode is refused here, whichever writer produced it (the API's
    bodies are checked earlier, the CLI's and the Cognito trigger's arguments only here).
    """
    for value in item.values():
        if isinstance(value, str) and not is_storable(value):
            raise InvalidInput("Text must be valid Unicode.", code=UNSTORABLE_TEXT)
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def deserialize(attributes: Mapping[str, Any]) -> Item:
    return {name: _attribute_value(value) for name, value in attributes.items()}


def _attribute_value(value: Mapping[str, Any]) -> Any:
    # Nearly all our attributes are strings, and TypeDeserializer's generic dispatch costs
    # several times a lookup: 8% of a conversation listing's CPU (bench/, issue 6).
    # Another writer may have stored text we cannot send back: it is repaired, not refused,
    # so one such item never fails the page that holds it.
    text = value.get("S")
    if text is None:
        return _deserializer.deserialize(value)
    return text if text.isascii() else storable(text)


@asynccontextmanager
async def dynamodb_errors() -> AsyncIterator[None]:
    """The one place where botocore errors become domain errors."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed from error
        if code == "TransactionCanceledException":
            reasons = [
                reason.get("Code") if reason.get("Code") not in (None, "None") else None
                for reason in error.response.get("CancellationReasons", [])
            ]
            if any(reason in THROTTLING_REASONS for reason in reasons):
                raise Unavailable("DynamoDB is throttling.", code="dynamodb_throttled") from error
            raise TransactionCancelled(reasons) from error
        if code in THROTTLING_CODES:
            raise Unavailable("DynamoDB is throttling.", code="dynamodb_throttled") from error
        if code in UNAVAILABLE_CODES:
            raise Unavailable("DynamoDB is unavailable.", code="dynamodb_unavailable") from error
        if code == "ResourceNotFoundException":
            raise TableMissing("The table does not exist.") from error
        if code == "ResourceInUseException":
            raise TableExists from error
        if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
            raise StreamPositionLost(code) from error
        if code == "UnknownOperationException":
            raise OperationUnsupported(str(error.operation_name)) from error
        log.error("unexpected DynamoDB error", extra={"ddb_error_code": code})
        raise ServiceError(code="internal_error") from error
    except (BotocoreConnectionError, HTTPClientError) as error:
        raise Unavailable("DynamoDB is unreachable.", code="dynamodb_unreachable") from error


def _page(response: Mapping[str, Any]) -> Page[Item, Item]:
    next_key = response.get("LastEvaluatedKey")
    return Page(
        items=[deserialize(item) for item in response.get("Items", [])],
        next=deserialize(next_key) if next_key else None,
    )


class Table:
    """The table's primitives with Python values in and out."""

    def __init__(
        self, client: DynamoDBClient, name: str, capacity: CapacityLog | None = None
    ) -> None:
        self.client = client
        self.name = name
        self._capacity = capacity

    def _request(self, **params: Any) -> dict[str, Any]:
        params = {name: value for name, value in params.items() if value is not None}
        if "ExpressionAttributeValues" in params:
            params["ExpressionAttributeValues"] = serialize(params["ExpressionAttributeValues"])
        if self._capacity is not None:
            params["ReturnConsumedCapacity"] = "INDEXES"
        return params

    def _record(self, operation: str, response: Mapping[str, Any]) -> None:
        if self._capacity is not None:
            self._capacity.record(operation, response.get("ConsumedCapacity"))

    async def describe(self) -> dict[str, Any] | None:
        """The table's description (DescribeTable), or None when it does not exist."""
        try:
            async with dynamodb_errors():
                response = await self.client.describe_table(TableName=self.name)
        except TableMissing:
            return None
        return dict(response["Table"])

    async def get(
        self, key: Mapping[str, str], *, consistent: bool = False, projection: str | None = None
    ) -> Item | None:
        request = self._request(
            TableName=self.name,
            Key=serialize(key),
            ConsistentRead=consistent,
            ProjectionExpression=projection,
        )
        async with dynamodb_errors():
            response = await self.client.get_item(**request)
        self._record("GetItem", response)
        attributes = response.get("Item")
        return deserialize(attributes) if attributes else None

    async def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        request = self._request(
            TableName=self.name,
            Item=serialize(item),
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        async with dynamodb_errors():
            response = await self.client.put_item(**request)
        self._record("PutItem", response)

    async def delete(self, key: Mapping[str, str]) -> None:
        request = self._request(TableName=self.name, Key=serialize(key))
        async with dynamodb_errors():
            response = await self.client.delete_item(**request)
        self._record("DeleteItem", response)

    async def update(
        self,
        key: Mapping[str, str],
        *,
        update: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = False,
    ) -> Item | None:
        request = self._request(
            TableName=self.name,
            Key=serialize(key),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW" if return_new else None,
        )
        async with dynamodb_errors():
            response = await self.client.update_item(**request)
        self._record("UpdateItem", response)
        attributes = response.get("Attributes")
        return deserialize(attributes) if attributes else None

    async def query(
        self,
        *,
        key_condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        next: Mapping[str, Any] | None = None,
        consistent: bool = False,
        projection: str | None = None,
        filter: str | None = None,
    ) -> Page[Item, Item]:
        """One page; the caller decides whether to follow ``next`` (LastEvaluatedKey).

        ``filter`` drops items after they are read (and paid for): a page may hold fewer than
        ``limit`` items, or none, and still have a ``next``.
        """
        request = self._request(
            TableName=self.name,
            IndexName=index,
            KeyConditionExpression=key_condition,
            FilterExpression=filter,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=forward,
            Limit=limit,
            ExclusiveStartKey=serialize(next) if next else None,
            ConsistentRead=consistent or None,
            ProjectionExpression=projection,
        )
        async with dynamodb_errors():
            response = await self.client.query(**request)
        self._record("Query", response)
        return _page(response)

    async def scan(
        self,
        *,
        index: str | None = None,
        limit: int | None = None,
        next: Mapping[str, Any] | None = None,
        consistent: bool = False,
    ) -> Page[Item, Item]:
        """One page of the whole table or index (operator tools only: the API never scans)."""
        request = self._request(
            TableName=self.name,
            IndexName=index,
            Limit=limit,
            ExclusiveStartKey=serialize(next) if next else None,
            ConsistentRead=consistent or None,
        )
        async with dynamodb_errors():
            response = await self.client.scan(**request)
        self._record("Scan", response)
        return _page(response)

    def put_op(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> WriteOp:
        return self._transact_op("Put", Item=serialize(item), condition=condition, values=values)

    def condition_check_op(
        self, key: Mapping[str, str], *, condition: str, values: Mapping[str, Any] | None = None
    ) -> WriteOp:
        return self._transact_op(
            "ConditionCheck", Key=serialize(key), condition=condition, values=values
        )

    def _transact_op(
        self,
        kind: str,
        *,
        condition: str | None,
        values: Mapping[str, Any] | None,
        **target: Any,
    ) -> WriteOp:
        operation = self._request(
            TableName=self.name,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **target,
        )
        operation.pop("ReturnConsumedCapacity", None)  # a transaction-level parameter
        return {kind: operation}

    async def transact_write(self, operations: Sequence[WriteOp]) -> None:
        request = self._request(TransactItems=list(operations))
        async with dynamodb_errors():
            response = await self.client.transact_write_items(**request)
        self._record("TransactWriteItems", response)
