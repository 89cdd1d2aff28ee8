"""Dependencies: the process state, repositories, services and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.security import HTTPBearer

from app.auth import parse_bearer
from app.domain import User
from app.errors import Unauthenticated
from app.repositories.users import UsersRepository
from app.services.messaging import MessagingService
from app.services.moderation import ModerationService
from app.state import AppState

# Declares the scheme in OpenAPI; the header itself is parsed by parse_bearer for exact errors.
bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT", description="Cognito access token")


def app_state(request: Request) -> AppState:
    state: AppState = request.state.app_state
    return state


# The providers below are ``async def`` although they never await: FastAPI runs a plain
# ``def`` dependency in its thread pool, and three thread hand-offs per request cost more
# CPU than the rest of the dependency graph (bench/, issue 6).
async def get_state(request: Request) -> AppState:
    return app_state(request)


State = Annotated[AppState, Depends(get_state)]


async def get_users_repo(request: Request) -> UsersRepository:
    return app_state(request).messaging.users


UsersRepo = Annotated[UsersRepository, Depends(get_users_repo)]


async def get_messaging(request: Request) -> MessagingService:
    return app_state(request).messaging


Messaging = Annotated[MessagingService, Depends(get_messaging)]


async def get_moderation(request: Request) -> ModerationService:
    return app_state(request).moderation


Moderation = Annotated[ModerationService, Depends(get_moderation)]


# The two providers every /api request runs read the state straight off the request: each
# sub-dependency FastAPI solves costs more than the attribute lookup it would save.
async def current_user(
    request: Request, _: Annotated[object, Security(bearer_scheme)] = None
) -> User:
    state = app_state(request)
    token = parse_bearer(request.headers.get("authorization"))
    claims = await state.verifier.verify(token)
    user = state.identities.get(claims.sub)
    if user is None:
        user = await state.messaging.users.get_by_identity(claims.sub)
        if user is None:
            raise Unauthenticated("No user is linked to this identity.", code="user_unknown")
        state.identities.put(claims.sub, user)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def limit_reads(user: CurrentUser, request: Request, response: Response) -> None:
    app_state(request).rate_limiter.hit("read", str(user.uuid), response)


async def limit_sends(user: CurrentUser, request: Request, response: Response) -> None:
    app_state(request).rate_limiter.hit("send", str(user.uuid), response)


ReadLimit = Depends(limit_reads)
SendLimit = Depends(limit_sends)
