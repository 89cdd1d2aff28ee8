"""Users: the short profile behind a handle, and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.deps import CurrentUser, ReadLimit, UsersRepo
from app.errors import (
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    problem_responses,
)
from app.routers.openapi_links import link
from app.schemas import Handle, MeOut, UserShortOut

router = APIRouter(prefix="/api", tags=["users"])


# OpenAPI link: where the response leads next (for readers, and schemathesis' stateful runs).
_PROFILE_LINKS = {
    "MessageThisUser": link(
        "send_message",
        "Send this user a message, starting a conversation if there is none.",
        request_body={"handle": "$response.body#/handle"},
    ),
}


@router.get(
    "/users/@{handle}/short",
    summary="A user's short profile, by handle (case-insensitive)",
    responses={
        **problem_responses(InvalidInput, Unauthenticated, NotFound, Unavailable, RateLimited),
        200: {"links": _PROFILE_LINKS},
    },
    dependencies=[ReadLimit],
)
async def user_short(
    handle: Annotated[Handle, Path()],
    _: CurrentUser,
    users: UsersRepo,
) -> UserShortOut:
    user = await users.get_by_handle(handle)
    if user is None:
        raise NotFound("No user has that handle.", code="user_not_found")
    return UserShortOut.of(user)


@router.get(
    "/me",
    summary="The signed-in user's profile",
    responses=problem_responses(Unauthenticated, Unavailable, RateLimited),
    dependencies=[ReadLimit],
)
async def me(user: CurrentUser) -> MeOut:
    return MeOut.of(user)
