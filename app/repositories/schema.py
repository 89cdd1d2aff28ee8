"""The table's definition (the single source of truth for keys and indexes) and its lifecycle."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.repositories.keys import ACTIVITY_INDEX, ACTIVITY_PROJECTION, CONVERSATION_INDEX
from app.repositories.table import (
    OperationUnsupported,
    Table,
    TableExists,
    TableMissing,
    dynamodb_errors,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

TTL_ATTRIBUTE = "expires_at"
"""Epoch seconds after which DynamoDB may delete an item (idempotency records)."""


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable parameters; the deployment template is checked against this."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "message_group_uuid", "AttributeType": "S"},
            {"AttributeName": "last_message_sk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                # Sparse: only conversation rows carry message_group_uuid. KEYS_ONLY, so
                # summary updates (non-key attributes) never write to this index.
                "IndexName": CONVERSATION_INDEX,
                "KeySchema": [
                    {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "LocalSecondaryIndexes": [
            {
                # "My conversations, newest first" in one Query while the row key never changes.
                "IndexName": ACTIVITY_INDEX,
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "last_message_sk", "KeyType": "RANGE"},
                ],
                # Only what the list shows (the group is in the row's sk): entries stay small
                # however rows grow. Every summary move changes the key, a delete and a put
                # of the entry, so each entry byte is written twice per message.
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(ACTIVITY_PROJECTION),
                },
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }


async def create_table(client: DynamoDBClient, table_name: str) -> bool:
    """Create the table unless it exists, wait until ACTIVE; True when it was created now."""
    created = await Table(client, table_name).describe() is None
    if created:
        try:
            async with dynamodb_errors():
                await client.create_table(**table_definition(table_name))
        except TableExists:
            created = False  # someone else created it between our describe and create
    async with dynamodb_errors():
        waiter = client.get_waiter("table_exists")  # checks at once, then every second
        await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        await _enable_ttl(client, table_name)
    return created


async def _enable_ttl(client: DynamoDBClient, table_name: str) -> None:
    try:
        async with dynamodb_errors():
            ttl = await client.describe_time_to_live(TableName=table_name)
            if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                return
            await client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
    except OperationUnsupported:
        # Some DynamoDB-compatible servers (dynalite) lack the TTL API. Expired idempotency
        # records are ignored on read anyway, so the table stays correct, only larger.
        log.warning("this DynamoDB endpoint has no TTL support; expired items stay stored")


async def drop_table(client: DynamoDBClient, table_name: str) -> bool:
    """Delete the table and wait until it is gone; False when there was none."""
    try:
        async with dynamodb_errors():
            await client.delete_table(TableName=table_name)
    except TableMissing:
        return False
    async with dynamodb_errors():
        # Deletion is asynchronous (DELETING): a create right after it would be refused.
        waiter = client.get_waiter("table_not_exists")
        await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return True
