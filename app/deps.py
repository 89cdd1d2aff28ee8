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
from app.state import AppState

# Declares the scheme in OpenAPI; the header itself is parsed by parse_bearer for exact errors.
bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT", description="Cognito access token")


# The providers below are ``async def`` although they never await: FastAPI runs a plain
# ``def`` dependency in its thread pool, and three thread hand-offs per request cost more
# CPU than the rest of the dependency graph (bench/, issue 6).
async def get_state(request: Request) -> AppState:
    state: AppState = request.state.app_state
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_users_repo(request: Request) -> UsersRepository:
    users: UsersRepository = request.state.app_state.messaging.users
    return users


UsersRepo = Annotated[UsersRepository, Depends(get_users_repo)]


async def get_messaging(request: Request) -> MessagingService:
    messaging: MessagingService = request.state.app_state.messaging
    return messaging


Messaging = Annotated[MessagingService, Depends(get_messaging)]


async def current_user(
    request: Request,
    state: State,
    users: UsersRepo,
    _: Annotated[object, Security(bearer_scheme)] = None,
) -> User:
    token = parse_bearer(request.headers.get("authorization"))
    claims = await state.verifier.verify(token)
    user = state.identities.get(claims.sub)
    if user is None:
        user = await users.get_by_identity(claims.sub)
        if user is None:
            raise Unauthenticated("No user is linked to this identity.", code="user_unknown")
        state.identities.put(claims.sub, user)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def limit_reads(user: CurrentUser, state: State, response: Response) -> None:
    await state.rate_limiter.hit("read", str(user.uuid), response)


async def limit_sends(user: CurrentUser, state: State, response: Response) -> None:
    await state.rate_limiter.hit("send", str(user.uuid), response)


ReadLimit = Depends(limit_reads)
SendLimit = Depends(limit_sends)
