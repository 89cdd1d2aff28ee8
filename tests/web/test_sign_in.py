"""Sign-in in Chromium: PKCE (RFC 7636 S256) computed by the page, and the Hosted UI's
authorization-code flow end to end against a stand-in Hosted UI (Playwright routes), since no
Cognito is reachable here. It hands out real local tokens, so the API accepts them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, Request, Route, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from app.settings import Settings
from app.web.routes import client_config, content_security_policy
from tests.web.conftest import WebServer

HOSTED_UI = "https://auth.cruddur.test"
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _navigate_to(url: str) -> str:
    return f'<meta http-equiv="refresh" content="0; url={url}">'


def test_pkce_and_error_words_computed_by_the_page(page: Page) -> None:
    page.goto("/messages")
    result: dict[str, Any] = page.evaluate(
        """async (rfcVerifier) => {
            const pkce = await import("/assets/js/pkce.js");
            const { ApiError } = await import("/assets/js/api.js");
            const { describe } = await import("/assets/js/errors.js");
            const verifier = pkce.randomString(32);
            const hostedUi = { domain: "https://auth.example", client_id: "client1",
                               redirect_uri: "https://app.example/auth/callback", scope: "openid" };
            return {
                rfc: await pkce.challengeOf(rfcVerifier),
                verifier,
                challenge: await pkce.challengeOf(verifier),
                url: pkce.authorizeUrl(hostedUi, "the-challenge", "the-state"),
                rateLimited: describe(new ApiError(429, { code: "rate_limited" }, 7)),
                unknownCode: describe(new ApiError(409, { code: "brand_new_code" }, null)),
            };
        }""",
        RFC7636_VERIFIER,
    )
    assert result["rfc"] == RFC7636_CHALLENGE
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", result["verifier"])
    assert result["challenge"] == s256(result["verifier"])
    url = urlsplit(result["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "auth.example", "/oauth2/authorize")
    assert parse_qs(url.query) == {
        "response_type": ["code"],
        "client_id": ["client1"],
        "redirect_uri": ["https://app.example/auth/callback"],
        "scope": ["openid"],
        "state": ["the-state"],
        "code_challenge": ["the-challenge"],
        "code_challenge_method": ["S256"],
    }
    assert result["rateLimited"] == "Too many requests. Wait 7 seconds and try again."
    assert result["unknownCode"] == "Something went wrong (brand_new_code)."


def test_hosted_ui_sign_in_refresh_and_sign_out(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    """What a cognito-mode server serves (its config and CSP) on top of the running server."""
    cognito = Settings(
        auth_mode="cognito",
        cognito_user_pool_id="us-east-1_Example1",
        cognito_app_client_ids=["webclient1"],
        cursor_secret="s" * 32,
        cognito_hosted_ui_domain=HOSTED_UI,
        cognito_web_client_id="webclient1",
        cognito_web_redirect_uri=f"{web_server.url}/auth/callback",
        _env_file=None,
    )
    handle = web_server.create_user("Hana Cole")
    token_requests: list[dict[str, list[str]]] = []
    authorize: list[dict[str, list[str]]] = []
    logout: list[dict[str, list[str]]] = []

    def as_cognito_server(route: Route) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": content_security_policy(cognito)}
        route.fulfill(response=response, headers=headers)

    def hosted_ui(route: Route) -> None:
        url = urlsplit(route.request.url)
        query = parse_qs(url.query)
        if url.path == "/oauth2/authorize":
            authorize.append(query)
            back = f"{web_server.url}/auth/callback?code=the-code&amp;state={query['state'][0]}"
            # A new navigation, not a redirect: routes do not see the targets of redirects.
            route.fulfill(content_type="text/html", body=_navigate_to(back))
        elif url.path == "/oauth2/token":
            form = parse_qs(route.request.post_data or "")
            token_requests.append(form)
            tokens = {"access_token": web_server.token(handle), "expires_in": 61}
            if form["grant_type"] == ["authorization_code"]:
                tokens["refresh_token"] = "the-refresh-token"
            route.fulfill(json=tokens, headers={"Access-Control-Allow-Origin": web_server.url})
        else:
            logout.append(query)
            route.fulfill(content_type="text/html", body=_navigate_to(f"{web_server.url}/"))

    def is_refresh(request: Request) -> bool:
        return "/oauth2/token" in request.url and "refresh_token" in (request.post_data or "")

    page = new_context().new_page()
    page.route(
        re.compile(r"^http://127\.0\.0\.1:\d+/(messages|auth/callback|$)"), as_cognito_server
    )
    page.route(
        "**/config.json", lambda route: route.fulfill(json=client_config(cognito).model_dump())
    )
    page.route(f"{HOSTED_UI}/**", hosted_ui)

    page.goto("/messages")
    with page.expect_request(is_refresh):
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"@{handle}")).to_be_visible()
    expect(page).to_have_url(f"{web_server.url}/messages")  # no code left in the address bar

    [query] = authorize
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["webclient1"]
    assert query["redirect_uri"] == [f"{web_server.url}/auth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    exchange, refresh = token_requests[:2]
    assert exchange["grant_type"] == ["authorization_code"]
    assert exchange["code"] == ["the-code"]
    assert exchange["redirect_uri"] == [f"{web_server.url}/auth/callback"]
    assert s256(exchange["code_verifier"][0]) == query["code_challenge"][0]
    assert refresh["refresh_token"] == ["the-refresh-token"]
    assert json.loads(page.evaluate("sessionStorage.getItem('cruddur.pkce')") or "null") is None

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert logout == [{"client_id": ["webclient1"], "logout_uri": [f"{web_server.url}/"]}]
