"""KMS failing: 503 with a code and Retry-After, nothing written, never plaintext."""

from __future__ import annotations

import httpx
import pytest

from app.repositories.table import Table
from tests.conftest import MakeUser, SignedIn, all_items, start_conversation
from tests.encryption.conftest import THROTTLED, UNREACHABLE, KmsFaults
from tests.encryption.test_stored_text import page

CODES = {THROTTLED: "kms_throttled", UNREACHABLE: "kms_unreachable"}


async def post_into(
    client: httpx.AsyncClient, sender: SignedIn, group: str, text: str
) -> httpx.Response:
    return await client.post(
        "/api/messages", json={"message": text, "message_group_uuid": group}, headers=sender.headers
    )


@pytest.mark.parametrize("kind", [THROTTLED, UNREACHABLE])
async def test_a_send_while_kms_fails_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    kms_faults: KmsFaults,
    kind: str,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    before = await all_items(table)
    kms_faults.fail(kind)

    refused = await post_into(client, andrew, group, "not now")

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == CODES[kind]
    assert int(refused.headers["Retry-After"]) > 0
    assert await all_items(table) == before
    assert sum(kms_faults.attempts.values()) == 3  # the client's standard retries ran first

    kms_faults.fail(None)
    sent = await post_into(client, andrew, group, "now")
    assert sent.status_code == 200, sent.text


@pytest.mark.transactions
async def test_a_first_message_while_kms_fails_creates_no_conversation(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table, kms_faults: KmsFaults
) -> None:
    andrew, bayko = await make_user(), await make_user()
    before = await all_items(table)
    kms_faults.fail(THROTTLED)

    refused = await client.post(
        "/api/messages", json={"message": "hi", "handle": bayko.user.handle}, headers=andrew.headers
    )

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "kms_throttled"
    assert await all_items(table) == before
    assert kms_faults.attempts["GenerateDataKey"] == 3


@pytest.mark.parametrize("kind", [THROTTLED, UNREACHABLE])
async def test_reading_while_kms_fails_is_503_not_plaintext_or_500(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    kms_faults: KmsFaults,
    kind: str,
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    assert (await post_into(client, andrew, group, "sealed")).status_code == 200
    kms_faults.fail(kind)
    refused = await client.get(f"/api/messages/{group}", headers=bayko.headers)

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == CODES[kind]
    assert "Retry-After" in refused.headers


async def test_a_non_members_read_opens_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table, kms_faults: KmsFaults
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    assert (await post_into(client, andrew, group, "sealed")).status_code == 200
    kms_faults.fail(None)  # a cold key cache: opening the page would ask KMS to Decrypt

    foreign = await client.get(f"/api/messages/{group}", headers=mallory.headers)
    assert foreign.status_code == 404
    assert kms_faults.attempts["Decrypt"] == 0
    member = await client.get(f"/api/messages/{group}", headers=bayko.headers)
    assert member.status_code == 200
    assert kms_faults.attempts["Decrypt"] >= 1


@pytest.mark.parametrize("kind", ["LimitExceededException", "ValidationException"])
async def test_a_kms_error_of_no_known_meaning_is_503_not_500(
    client: httpx.AsyncClient, make_user: MakeUser, kms_faults: KmsFaults, kind: str
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    assert (await post_into(client, andrew, group, "sealed")).status_code == 200
    kms_faults.fail(kind)

    for refused in (
        await post_into(client, andrew, group, "not now"),
        await client.get(f"/api/messages/{group}", headers=bayko.headers),
    ):
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "kms_unavailable"
        assert "Retry-After" in refused.headers


async def test_a_data_key_wrapped_under_another_master_key_does_not_open(
    client: httpx.AsyncClient, make_user: MakeUser, kms_faults: KmsFaults
) -> None:
    """KMS's answer when the key id it is asked with (our alias, re-pointed to a new key) is
    not the one that wrapped the data key: its texts are unreadable, and nothing more can be
    sealed under it (503) until the next epoch's key."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "hello")
    assert (await post_into(client, andrew, group, "sealed")).status_code == 200
    kms_faults.fail("IncorrectKeyException")

    [*_, shown] = await page(client, bayko, group)
    assert (shown["message"], shown["message_error"]) == (None, "data_key_undecryptable")
    refused = await post_into(client, andrew, group, "not now")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "kms_unavailable"
