"""Deployment checks: the template, its IAM policies, the Lambda package and the trigger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from app.cognito import post_confirmation
from app.lambda_runtime import LambdaRuntime
from app.repositories.table import Table
from app.repositories.users import UsersRepository
from app.settings import Settings


@pytest_asyncio.fixture
async def cold_post_confirmation(
    settings: Settings, table: Table, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LambdaRuntime[UsersRepository]]:
    """The trigger as in a fresh Lambda environment, configured like one: by CRUDDUR_* vars."""
    assert settings.ddb_endpoint_url is not None
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", settings.ddb_endpoint_url)
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", table.name)
    monkeypatch.setenv("CRUDDUR_AWS_REGION", settings.aws_region)
    runtime = LambdaRuntime(UsersRepository)
    monkeypatch.setattr(post_confirmation, "_runtime", runtime)
    yield runtime
    await asyncio.to_thread(runtime.close)


def confirmation(
    username: str, trigger: str = "PostConfirmation_ConfirmSignUp", **attributes: str
) -> dict[str, Any]:
    """A post-confirmation event as Cognito sends it."""
    return {
        "version": "1",
        "region": "us-east-1",
        "userPoolId": "us-east-1_Example1",
        "userName": username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "client"},
        "triggerSource": trigger,
        "request": {
            "userAttributes": {
                "sub": str(uuid4()),
                "email": f"{username}@example.com",
                "email_verified": "true",
                "cognito:user_status": "CONFIRMED",
                **attributes,
            }
        },
        "response": {},
    }


async def invoke(event: dict[str, Any]) -> dict[str, Any]:
    # The handler drives its own event loop, so it runs in a thread of its own.
    return await asyncio.to_thread(post_confirmation.handler, event, None)
