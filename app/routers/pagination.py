"""Query parameters and RFC 8288 ``Link`` headers shared by the paginated listings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

PAGE_LIMIT_MAX = 50

Limit = Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX, description="Items per page (1-50).")]
Cursor = Annotated[
    str | None,
    Query(max_length=1024, description="Opaque cursor from a previous page's Link header."),
]


def set_link_header(request: Request, response: Response, cursors: dict[str, str | None]) -> None:
    """``Link: <url?cursor=...>; rel="next"`` (and others) for each cursor that is present."""
    links = [
        f'<{request.url.include_query_params(cursor=cursor)}>; rel="{relation}"'
        for relation, cursor in cursors.items()
        if cursor is not None
    ]
    if links:
        response.headers["Link"] = ", ".join(links)
