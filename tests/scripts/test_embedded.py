"""The embedded server's transactions do work proportional to what they touch, not to the table.

Counted, not timed: moto's own rollback deep-copies every table a transaction names, so it
copies every item; undo records copy only the items the transaction names. The server runs in
this process (a thread), so the count sees its copies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.dynamodb.models.dynamo_type import Item

from app.repositories.schema import table_definition
from scripts.embedded import EmbeddedDynamoDB

pytestmark = pytest.mark.transactions

TABLE = "embedded-transactions"
ITEMS = 200


@pytest.fixture
def client() -> Iterator[Any]:
    server = EmbeddedDynamoDB()
    server.start()
    client = boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_table(**table_definition(TABLE))
    yield client
    server.stop()


def item(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, "text": {"S": "x" * 100}}


def fill(client: Any, start: int, stop: int) -> None:
    for first in range(start, stop, 25):
        puts = [
            {"PutRequest": {"Item": item(f"FILL#{n % 50}", f"{n:06d}")}}
            for n in range(first, min(first + 25, stop))
        ]
        client.batch_write_item(RequestItems={TABLE: puts})


def cancelled_transaction(client: Any, name: str) -> None:
    """A 2-item transaction, cancelled by its second item's condition."""
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item(name, "S")}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": item("FILL#0", f"{0:06d}"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )


def test_a_transaction_copies_the_items_it_names_not_the_table(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(client, 0, ITEMS)
    copied: list[Item] = []
    deepcopy = Item.__deepcopy__

    def counted(self: Item, memo: dict[int, Any]) -> Item:
        copied.append(self)
        return deepcopy(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counted)
    cancelled_transaction(client, "CANCELLED")
    monkeypatch.undo()

    assert len(copied) <= 2, len(copied)
    response = client.get_item(TableName=TABLE, Key={"pk": {"S": "CANCELLED"}, "sk": {"S": "S"}})
    assert "Item" not in response
