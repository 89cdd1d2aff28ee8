"""OpenAPI links: where a response's ids lead next (for readers, and schemathesis' stateful runs).

Operation ids are the route functions' names (``create_app`` sets them), so links name them.
"""

from __future__ import annotations

from typing import Any


def link(
    operation: str,
    description: str,
    *,
    parameters: dict[str, str] | None = None,
    request_body: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"operationId": operation, "description": description}
    if parameters:
        spec["parameters"] = parameters
    if request_body:
        spec["requestBody"] = request_body
    return spec
