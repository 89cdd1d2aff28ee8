"""Opening the DynamoDB (and Streams, KMS) clients from settings: one per process, reused."""

from __future__ import annotations

import os
import platform
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Literal, overload

import aioboto3
import aiobotocore
from aiobotocore.config import AioConfig

from app.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_kms import KMSClient

# Local servers ignore credentials but botocore refuses to sign without some.
_LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


USER_AGENT = (
    f"cruddur-messaging aiobotocore/{aiobotocore.__version__} Python/{platform.python_version()}"
)
"""Fixed (botocore appends its own version): botocore otherwise rebuilds its User-Agent (SDK
feature metrics) for every call, 0.1-0.2 ms of CPU per DynamoDB request on the bench machine;
this one also names the service in CloudTrail."""


def client_config(settings: Settings) -> AioConfig:
    return AioConfig(
        user_agent=USER_AGENT,
        max_pool_connections=settings.ddb_max_pool_connections,
        connect_timeout=settings.ddb_connect_timeout,
        read_timeout=settings.ddb_read_timeout,
        # standard mode: bounded, jittered retries (legacy mode retries DynamoDB 10 times).
        retries={"mode": "standard", "total_max_attempts": settings.ddb_max_attempts},
    )


@overload
async def open_client(
    settings: Settings, stack: AsyncExitStack, service: Literal["dynamodb"] = "dynamodb"
) -> DynamoDBClient: ...
@overload
async def open_client(
    settings: Settings, stack: AsyncExitStack, service: Literal["dynamodbstreams"]
) -> DynamoDBStreamsClient: ...
@overload
async def open_client(
    settings: Settings, stack: AsyncExitStack, service: Literal["kms"]
) -> KMSClient: ...
async def open_client(
    settings: Settings,
    stack: AsyncExitStack,
    service: Literal["dynamodb", "dynamodbstreams", "kms"] = "dynamodb",
) -> DynamoDBClient | DynamoDBStreamsClient | KMSClient:
    """A client closed when ``stack`` closes."""
    endpoint = settings.kms_endpoint if service == "kms" else settings.ddb_endpoint_url
    credentials: dict[str, str] = {}
    if endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
        credentials = _LOCAL_CREDENTIALS
    session = aioboto3.Session(region_name=settings.aws_region, **credentials)
    client = session.client(service, endpoint_url=endpoint, config=client_config(settings))
    return await stack.enter_async_context(client)
