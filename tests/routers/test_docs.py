"""The OpenAPI explorer works offline: /docs loads only same-origin assets, which are served;
a setting turns the explorer and the OpenAPI document off."""

from __future__ import annotations

import re

import httpx

from app.settings import Settings
from tests.routers.conftest import serving

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


async def test_docs_reference_only_same_origin_assets_and_they_are_served(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    references = [a or b for a, b in REFERENCE.findall(page.text)]
    assert len(references) >= 4  # stylesheet, icon, script, OpenAPI document
    for reference in references:
        assert reference.startswith("/")
        assert not reference.startswith("//")
        served = await client.get(reference)
        assert served.status_code == 200, reference
        assert served.content
    assert not re.search(r"https?://", page.text)
    assert (await client.get("/redoc")).status_code == 404  # FastAPI's would need a CDN


async def test_a_setting_turns_the_docs_and_the_openapi_document_off(settings: Settings) -> None:
    async with serving(settings.model_copy(update={"docs_enabled": False})) as served:
        for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"):
            assert (await served.http.get(path)).status_code == 404, path
        assert (await served.http.get("/livez")).status_code == 200
