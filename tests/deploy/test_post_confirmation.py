"""The Cognito post-confirmation trigger against the embedded server, called as Lambda calls it."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from app.cognito.post_confirmation import SignUpRefused, user_uuid_for
from app.lambda_runtime import LambdaRuntime
from app.repositories.table import Table
from app.repositories.users import UsersRepository
from tests.conftest import all_items
from tests.deploy.conftest import confirmation, invoke

pytestmark = pytest.mark.transactions


async def stored_keys(table: Table) -> set[tuple[object, object]]:
    return {(item["pk"], item["sk"]) for item in await all_items(table)}


def keys_of(event: dict[str, Any], handle: str) -> set[tuple[object, object]]:
    sub = event["request"]["userAttributes"]["sub"]
    return {
        (f"USER#{user_uuid_for(sub)}", "PROFILE"),
        (f"HANDLE#{handle.lower()}", "HANDLE"),
        (f"SUB#{sub}", "SUB"),
    }


async def test_creates_profile_handle_and_identity_from_the_attributes(
    cold_post_confirmation: LambdaRuntime[UsersRepository], table: Table
) -> None:
    event = confirmation("andrew", preferred_username="AndrewBrown", name="Andrew Brown")
    sent = copy.deepcopy(event)

    assert await invoke(event) == sent

    sub = sent["request"]["userAttributes"]["sub"]
    user = await UsersRepository(table).get_by_identity(sub)
    assert user is not None
    assert (user.uuid, user.handle, user.display_name) == (
        user_uuid_for(sub),
        "AndrewBrown",
        "Andrew Brown",
    )
    assert await UsersRepository(table).get_by_handle("andrewbrown") == user
    assert await stored_keys(table) == keys_of(sent, "AndrewBrown")


async def test_handle_falls_back_to_the_username_and_display_name_to_the_handle(
    cold_post_confirmation: LambdaRuntime[UsersRepository], table: Table
) -> None:
    event = confirmation("bayko", name="   ")

    await invoke(event)

    user = await UsersRepository(table).get_by_handle("bayko")
    assert user is not None
    assert (user.handle, user.display_name) == ("bayko", "bayko")


async def test_a_retried_confirmation_succeeds_without_a_second_user(
    cold_post_confirmation: LambdaRuntime[UsersRepository], table: Table
) -> None:
    event = confirmation("londo", name="Londo Mollari")

    first = await invoke(copy.deepcopy(event))
    retried = await invoke(copy.deepcopy(event))

    assert first == retried == event
    assert await stored_keys(table) == keys_of(event, "londo")


async def test_a_taken_handle_fails_the_sign_up_clearly_and_writes_nothing(
    cold_post_confirmation: LambdaRuntime[UsersRepository], table: Table
) -> None:
    first = confirmation("andrew")
    await invoke(first)

    with pytest.raises(SignUpRefused, match=r"handle 'Andrew' is already taken"):
        await invoke(confirmation("someone", preferred_username="Andrew"))

    assert await stored_keys(table) == keys_of(first, "andrew")


@pytest.mark.parametrize("handle", ["an@email.example", "has space", "x" * 33])
async def test_a_handle_the_api_cannot_serve_is_refused_before_any_write(
    cold_post_confirmation: LambdaRuntime[UsersRepository], table: Table, handle: str
) -> None:
    with pytest.raises(SignUpRefused, match="1 to 32 letters, digits or underscores"):
        await invoke(confirmation(handle))

    assert await stored_keys(table) == set()


async def test_a_forgot_password_confirmation_creates_nothing(
    cold_post_confirmation: LambdaRuntime[UsersRepository], table: Table
) -> None:
    event = confirmation("andrew", trigger="PostConfirmation_ConfirmForgotPassword")

    assert await invoke(event) is event
    assert await stored_keys(table) == set()


async def test_invocations_share_one_client(
    cold_post_confirmation: LambdaRuntime[UsersRepository],
) -> None:
    await invoke(confirmation("andrew"))
    await invoke(confirmation("bayko"))

    clients = [await asyncio.to_thread(cold_post_confirmation.run, _client_of) for _ in range(2)]
    assert clients[0] is clients[1]


async def _client_of(users: UsersRepository) -> object:
    return users.table.client
