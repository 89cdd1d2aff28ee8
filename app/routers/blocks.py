"""Blocking users: while a block stands, neither side can message the other."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.deps import CurrentUser, Moderation, ReadLimit, SendLimit
from app.errors import (
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    problem_responses,
)
from app.routers.pagination import Cursor, Limit, set_link_header
from app.schemas import BlockOut, Handle

router = APIRouter(prefix="/api", tags=["blocks"])

_ERRORS = (InvalidInput, Unauthenticated, NotFound, Unavailable, RateLimited)


@router.post(
    "/users/@{handle}/block",
    summary="Block a user",
    description=(
        "Neither of us can message the other until I unblock them; my conversation with them "
        "leaves my list (the history stays readable). They are not told: their sends are "
        "refused with the neutral 403 `cannot_message`. Blocking again changes nothing."
    ),
    responses=problem_responses(*_ERRORS),
    dependencies=[SendLimit],
)
async def block_user(
    handle: Annotated[Handle, Path()], user: CurrentUser, moderation: Moderation
) -> BlockOut:
    return BlockOut.of(await moderation.block(user, handle))


@router.delete(
    "/users/@{handle}/block",
    summary="Unblock a user",
    description="Unblocking someone not blocked changes nothing.",
    status_code=204,
    responses=problem_responses(*_ERRORS),
    dependencies=[SendLimit],
)
async def unblock_user(
    handle: Annotated[Handle, Path()], user: CurrentUser, moderation: Moderation
) -> Response:
    await moderation.unblock(user, handle)
    return Response(status_code=204)


@router.get(
    "/blocks",
    summary="The users I blocked",
    description='More pages through the `Link` header\'s `rel="next"`.',
    responses=problem_responses(InvalidInput, Unauthenticated, Unavailable, RateLimited),
    dependencies=[ReadLimit],
)
async def list_blocks(
    user: CurrentUser,
    moderation: Moderation,
    request: Request,
    response: Response,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> list[BlockOut]:
    page = await moderation.list_blocks(user, limit=limit, cursor=cursor)
    set_link_header(request, response, {"next": page.next})
    return [BlockOut.of(block) for block in page.items]
