"""A page read runs the membership GetItem and the page Query concurrently: whichever fails,
a non-member still gets the 404 of a conversation that does not exist, and a member a 503."""

from __future__ import annotations

from uuid import uuid4

import httpx

from app.services.messaging import background_reads_done
from app.settings import Settings
from tests.conftest import MakeUser, start_conversation
from tests.faults.injector import FaultInjector, FaultKind


async def test_a_failing_page_query_is_a_503_for_a_member_and_the_same_404_for_others(
    client: httpx.AsyncClient, make_user: MakeUser, faults: FaultInjector, settings: Settings
) -> None:
    andrew, bayko, mallory = await make_user(), await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "secret")
    missing = await client.get(f"/api/messages/{uuid4()}", headers=mallory.headers)
    failing = faults.fail("Query", FaultKind.INTERNAL_ERROR)

    member = await client.get(f"/api/messages/{group}", headers=andrew.headers)
    foreign = await client.get(f"/api/messages/{group}", headers=mallory.headers)

    assert member.status_code == 503
    assert member.json()["code"] == "dynamodb_unavailable"
    assert foreign.status_code == 404
    assert foreign.content == missing.content
    # The stranger's Query went on after their 404, retried by the SDK; it is waited for, so
    # none of its attempts lands in a later test (or on a closed client at shutdown).
    await background_reads_done()
    assert failing.matched == 2 * settings.ddb_max_attempts


async def test_a_failing_membership_check_is_a_503_without_the_page(
    client: httpx.AsyncClient, make_user: MakeUser, faults: FaultInjector
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko, "secret")
    faults.fail("GetItem", FaultKind.INTERNAL_ERROR)

    response = await client.get(f"/api/messages/{group}", headers=andrew.headers)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text
