"""Liveness (the process answers) and readiness (it can serve: table ACTIVE, keys loaded)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from app.deps import State
from app.errors import ServiceError
from app.schemas import HealthOut

router = APIRouter(tags=["health"])

TABLE_CHECK_TTL_SECONDS = 2.0


@router.get("/livez", summary="Liveness: the process is up")
async def livez() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: DynamoDB reachable, table ACTIVE, token keys loaded",
    responses={503: {"model": HealthOut, "description": "Not ready"}},
)
async def readyz(state: State, response: Response) -> HealthOut:
    checks = {
        "shutdown": "draining" if state.lifecycle.draining else "ok",
        "table": await _table_status(state),
        "token_keys": await _token_keys_status(state),
    }
    if all(result == "ok" for result in checks.values()):
        return HealthOut(status="ok", checks=checks)
    response.status_code = 503
    return HealthOut(status="unavailable", checks=checks)


async def _table_status(state: State) -> str:
    if state.table_check_fresh():
        return "ok"
    async with state.ready_lock:  # one DescribeTable at a time, however many probes
        if state.table_check_fresh():
            return "ok"
        try:
            description = await state.table.describe()
        except ServiceError as error:
            return error.code
        if description is None:
            return "table_missing"
        status = str(description.get("TableStatus", "UNKNOWN"))
        if status != "ACTIVE":
            return f"table_{status.lower()}"
        state.table_ready_until = time.monotonic() + TABLE_CHECK_TTL_SECONDS
        return "ok"


async def _token_keys_status(state: State) -> str:
    try:
        await state.key_source.ensure_loaded()
    except ServiceError as error:
        return error.code
    return "ok"
