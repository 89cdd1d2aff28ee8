"""The OpenAPI explorer works offline: /docs loads only same-origin assets, which are served;
a setting turns the explorer and the OpenAPI document off."""

from __future__ import annotations

import re
from pathlib import Path

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


def readme_events() -> set[str]:
    """The event names of the README's table (section "Real-time events")."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Real-time events", 1)[1]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row)}


async def test_the_event_stream_description_names_every_event_the_readme_lists(
    client: httpx.AsyncClient,
) -> None:
    """The README's table of events and the OpenAPI description say the same."""
    listed = readme_events()
    assert {"message", "message_updated", "message_deleted", "reset"} <= listed
    document = (await client.get("/openapi.json")).json()
    description = document["paths"]["/api/events"]["get"]["description"]
    assert {name for name in listed if f"`{name}`" not in description} == set()
