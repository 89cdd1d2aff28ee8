"""Local development only: mint access tokens for seeded users, publish the issuer's keys, and
count this process's KMS calls (for the encryption benchmark).

Mounted only when ``auth_mode=local``; in production neither route exists.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import State, UsersRepo
from app.errors import InvalidInput, NotFound, PayloadTooLarge, problem_responses
from app.schemas import DevTokenRequest, KmsCallsOut, TokenOut

router = APIRouter(tags=["development"])


@router.post(
    "/api/dev/tokens",
    summary="Mint a local access token for a user (development only)",
    responses=problem_responses(PayloadTooLarge, InvalidInput, NotFound),
)
async def mint_token(body: DevTokenRequest, state: State, users: UsersRepo) -> TokenOut:
    assert state.local_issuer is not None  # the router is only mounted in local mode
    user = await users.get_by_handle(body.handle)
    profile = await users.get(user.uuid) if user else None
    if profile is None or profile.cognito_sub is None:
        raise NotFound("No user with a sign-in identity has that handle.", code="user_not_found")
    lifetime = state.settings.local_token_lifetime_seconds
    token = state.local_issuer.mint_access_token(
        sub=profile.cognito_sub, username=profile.handle, lifetime_seconds=lifetime
    )
    return TokenOut(access_token=token, expires_in=lifetime)


@router.get("/.well-known/jwks.json", summary="The local issuer's public keys")
async def jwks(state: State) -> dict[str, Any]:
    assert state.local_issuer is not None
    return state.local_issuer.jwks()


@router.get(
    "/api/dev/kms-calls",
    summary="This process's KMS calls and data-key cache hits (development only)",
)
async def kms_calls(state: State) -> KmsCallsOut:
    calls = state.data_keys.calls if state.data_keys is not None else None
    return KmsCallsOut(
        encryption=state.settings.encryption,
        generate_data_key=calls.generate_data_key if calls else 0,
        decrypt=calls.decrypt if calls else 0,
        cache_hits=calls.cache_hits if calls else 0,
    )
