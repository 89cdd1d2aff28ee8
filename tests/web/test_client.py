"""The web client in real Chromium: two people messaging live, keyboard-only use, literal text,
a send that survives a lost answer, a dropped stream that resumes, phone size, and axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Dialog, Locator, Page, Request, Route, ViewportSize, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.web.conftest import SCREENSHOTS, WebServer, conversation_row, sign_in

XSS = "<img src=x onerror=alert(1)>"
PHONE: ViewportSize = {"width": 375, "height": 740}
DESKTOP: ViewportSize = {"width": 1100, "height": 700}


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message", exact=True)


def messages(page: Page) -> Locator:
    return page.get_by_role("log", name="Messages").get_by_role("listitem")


def serious_violations(page: Page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']]}"
        for v in violations
        if v["impact"] in {"serious", "critical"}
    ]


def tab_to(page: Page, target: Locator, most: int = 12) -> None:
    """Presses Tab until ``target`` has the focus: the focus order reaches it."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_two_people_message_each_other_live(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    ana, ben = web_server.create_user("Ana Lima"), web_server.create_user("Ben Okafor")
    a_page, b_page = new_context().new_page(), new_context().new_page()
    sign_in(b_page, ben)
    expect(b_page.get_by_text("No conversations yet")).to_be_visible()

    # A messages a user she has never talked to, by handle.
    sign_in(a_page, ana)
    a_page.get_by_label("New message to").fill(ben)
    a_page.get_by_role("button", name="Start").click()
    expect(a_page.get_by_text("Ben Okafor")).to_be_visible()
    first = a_page.get_by_role("textbox", name=f"First message to @{ben}")
    first.fill("Hi Ben, it's Ana")
    first.press("Enter")
    expect(a_page).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}$"))
    expect(messages(a_page).first).to_contain_text("Hi Ben, it's Ana")

    # B sees it without reloading, with an unread badge; opening it clears the badge.
    row = conversation_row(b_page, "Ana Lima")
    expect(row.get_by_label("1 unread")).to_be_visible()
    row.click()
    expect(messages(b_page)).to_have_count(1)
    expect(messages(b_page).first).to_contain_text("Hi Ben, it's Ana")
    expect(row.get_by_label("1 unread")).to_have_count(0)

    # B answers; A, who has the conversation open, sees it arrive.
    composer(b_page).fill("Hello Ana!")
    composer(b_page).press("Enter")
    expect(messages(a_page).last).to_contain_text("Hello Ana!")

    # A reload keeps the session, the conversation and the read state.
    b_page.reload()
    expect(messages(b_page)).to_have_count(2)
    b_page.goto("/messages")
    expect(conversation_row(b_page, "Ana Lima")).to_contain_text("Hello Ana!")
    expect(conversation_row(b_page, "Ana Lima").locator(".badge")).to_have_count(0)


def test_an_edit_and_a_delete_change_the_open_conversation_live(
    new_context: CreateContextCallback, web_server: WebServer, request: pytest.FixtureRequest
) -> None:
    """Ana fixes a typo and deletes a message sent to the wrong person while Ben has the
    conversation open: both change in place, without a reload."""
    ana, ben = web_server.create_users(["Ana Pires", "Ben Tal"])
    api = web_server.api(ana)
    request.addfinalizer(api.close)
    typo = api.post("/api/messages", json={"message": "see you tomorow", "handle": ben})
    group = typo.raise_for_status().json()["message_group_uuid"]
    body = {"message": "meant for someone else", "message_group_uuid": group}
    wrong = api.post("/api/messages", json=body).raise_for_status().json()

    page = new_context().new_page()
    with page.expect_response(re.compile(r"/api/events\?")):  # subscribed: events reach it
        sign_in(page, ben)
    page.goto(f"/messages/{group}")
    expect(messages(page)).to_have_count(2)
    page.evaluate("window.notReloaded = true")
    edit = {"message": "see you tomorrow"}
    api.patch(f"/api/messages/{group}/{typo.json()['uuid']}", json=edit).raise_for_status()
    api.delete(f"/api/messages/{group}/{wrong['uuid']}").raise_for_status()

    expect(messages(page).locator(".text")).to_have_text(["see you tomorrow", "message deleted"])
    expect(messages(page).first).to_contain_text("edited")
    expect(conversation_row(page, "Ana Pires")).to_contain_text("message deleted")
    expect(page.get_by_role("main")).not_to_contain_text("someone else")
    assert page.evaluate("window.notReloaded") is True


def test_keyboard_only_with_text_shown_literally(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    carla, dan = web_server.create_user("Carla Diaz"), web_server.create_user("Dan Ng")
    page = new_context().new_page()
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto("/messages")

    handle = page.get_by_label("Or type a handle")
    tab_to(page, handle)
    page.keyboard.type(carla)
    page.keyboard.press("Enter")
    new_message_to = page.get_by_label("New message to")
    tab_to(page, new_message_to)
    assert new_message_to.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.type(dan)
    page.keyboard.press("Enter")

    first = page.get_by_role("textbox", name=f"First message to @{dan}")
    expect(first).to_be_focused()
    page.keyboard.type(XSS)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}$"))
    expect(composer(page)).to_be_focused()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    page.keyboard.press("Enter")

    expect(messages(page).locator(".text")).to_have_text([XSS, "line one\nline two"])
    expect(page.locator(".messages img")).to_have_count(0)
    assert dialogs == []

    # Blank text cannot be sent; over 1024 characters neither, and the counter says so.
    send = page.get_by_role("button", name="Send")
    page.keyboard.type("   ")
    expect(send).to_be_disabled()
    composer(page).fill("x" * 1025)
    expect(page.get_by_text("1025/1024")).to_be_visible()
    expect(send).to_be_disabled()
    composer(page).fill("x" * 1024)
    expect(send).to_be_enabled()


def test_send_survives_a_lost_answer_exactly_once(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    erin, fay = web_server.create_user("Erin Park"), web_server.create_user("Fay Ito")
    with web_server.api(erin) as api:
        sent = api.post("/api/messages", json={"message": "hi", "handle": fay}).json()
    group = sent["message_group_uuid"]
    page = new_context().new_page()
    sign_in(page, erin)
    page.goto(f"/messages/{group}")
    expect(messages(page)).to_have_count(1)

    keys: list[str | None] = []

    def answer_lost_once(route: Route) -> None:
        keys.append(route.request.header_value("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server stores the message...
            route.abort("connectionreset")  # ...and the browser never hears back
        else:
            route.continue_()

    page.route("**/api/messages", answer_lost_once)
    composer(page).fill("Are you there?")
    item = messages(page).filter(has_text="Are you there?")
    # The first answer to reach the page is the retry's: the server's original message.
    with page.expect_response(lambda response: response.url.endswith("/api/messages")) as retry:
        composer(page).press("Enter")
        expect(item).to_have_attribute("data-status", "pending")
    assert retry.value.status == 200
    expect(item).to_have_attribute("data-status", "sent")
    expect(item).to_have_attribute("data-uuid", retry.value.json()["uuid"])
    expect(item).to_have_count(1)
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
    with web_server.api(fay) as api:
        texts = [m["message"] for m in api.get(f"/api/messages/{group}").json()]
    assert texts.count("Are you there?") == 1

    # An answer the client must not retry by itself: failed, in words, with a retry button.
    page.unroute("**/api/messages")
    page.route(
        "**/api/messages",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "7"},
            content_type="application/problem+json",
            body='{"title": "Too Many Requests", "status": 429, "code": "rate_limited"}',
        ),
    )
    composer(page).fill("Still there?")
    composer(page).press("Enter")
    failed = messages(page).filter(has_text="Still there?")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed).to_contain_text("Wait 7 seconds")
    page.unroute("**/api/messages")
    failed.get_by_role("button", name="Retry").click()
    expect(failed).to_have_attribute("data-status", "sent")


def test_errors_in_words(new_context: CreateContextCallback, web_server: WebServer) -> None:
    page = new_context().new_page()
    sign_in(page, web_server.create_user("Gus Hale"))
    page.goto("/messages/new/nobody_by_this_name")
    expect(page.get_by_text("Nobody has that handle.")).to_be_visible()

    page.evaluate(
        """() => {
            const key = "cruddur.session";
            const session = JSON.parse(sessionStorage.getItem(key));
            sessionStorage.setItem(key, JSON.stringify({...session, accessToken: "x"}));
        }"""
    )
    page.reload()
    expect(page.get_by_text("You were signed out. Sign in again.")).to_be_visible()


def test_conversation_list_pages_through_link_next(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    """Pages of 2 (the first request rewritten to ask for them, to keep the test small): the
    rest comes from the server's own Link rel="next"."""
    owner, *pals = web_server.create_users(["Ida Moss", "Pal One", "Pal Two", "Pal Three"])
    with web_server.api(owner) as api:
        for pal in pals:
            api.post("/api/messages", json={"message": "hi", "handle": pal}).raise_for_status()
    page = new_context().new_page()
    page.route(
        "**/api/message_groups", lambda route: route.continue_(url=f"{route.request.url}?limit=2")
    )
    sign_in(page, owner)
    rows = page.get_by_role("navigation", name="Conversations").get_by_role("link")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Pal Three")
    page.get_by_role("button", name="Show older conversations").click()
    expect(rows).to_have_count(3)
    expect(rows.last).to_contain_text("Pal One")
    expect(page.get_by_role("button", name="Show older conversations")).to_be_hidden()


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name)


def test_desktop_and_phone_screens_pass_axe(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    with web_server.api("londo") as londo:
        londo.post(
            "/api/messages",
            json={
                "message": "Andrew! Got a minute? I have questions about GSIs.",
                "handle": "andrewbrown",
            },
        ).raise_for_status()
    page = new_context(viewport=DESKTOP).new_page()
    page.goto("/messages")
    expect(page.get_by_role("heading", name="Cruddur Messages")).to_be_visible()
    _screenshot(page, "sign-in.png")
    assert serious_violations(page) == []
    sign_in(page, "andrewbrown")
    expect(conversation_row(page, "Londo Mollari").get_by_label("1 unread")).to_be_visible()
    conversation_row(page, "Bayko").click()
    expect(messages(page).last).to_be_visible()
    _screenshot(page, "desktop.png")
    assert serious_violations(page) == []
    expect(messages(page)).to_have_count(30)  # a page; the seeded dialogue is longer
    page.get_by_role("button", name="Load older messages").click()
    expect(messages(page)).to_have_count(60)

    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, "andrewbrown")
    expect(conversation_row(phone, "Londo Mollari").get_by_label("1 unread")).to_be_visible()
    _screenshot(phone, "phone-list.png")
    assert serious_violations(phone) == []
    conversation_row(phone, "Bayko").click()
    expect(messages(phone).last).to_be_visible()
    expect(phone.get_by_role("navigation", name="Conversations")).to_be_hidden()
    _screenshot(phone, "phone-conversation.png")
    assert serious_violations(phone) == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _relay_until_id(stream: Iterator[str]) -> list[str]:
    """The opening frames, through the id-only one marking the connection (subscribed)."""
    lines: list[str] = []
    for line in stream:
        lines.append(line)
        if line == "" and len(lines) > 1 and lines[-2].startswith("id:"):
            return lines
    raise AssertionError(f"the stream ended while opening: {lines}")


def _relay_until(stream: Iterator[str], text: str) -> list[str]:
    """The server's frames up to and including the first event carrying ``text``."""
    lines: list[str] = []
    for line in stream:
        lines.append(line)
        if line == "" and any(f'"{text}"' in seen for seen in lines[-3:]):
            return lines
    raise AssertionError(f"the stream ended before {text!r}: {lines}")


def test_a_dropped_stream_resumes_where_it_left_off(
    new_context: CreateContextCallback, web_server: WebServer, request: pytest.FixtureRequest
) -> None:
    """The conversation's stream is the server's own bytes, relayed up to one live message and
    then cut. The browser's own reconnect reuses the spent ticket and is refused, so the client
    opens a new one with `since=` its last event id, and what was sent meanwhile arrives by
    that resume: no reload, no refetch of the list. A resume does not replay edits or deletes
    of older messages, so the open conversation's newest page is read once again: the message
    deleted meanwhile shows as deleted."""
    ana, ben = web_server.create_users(["Ana Ruiz", "Ben Ode"])
    api = web_server.api(ben)
    request.addfinalizer(api.close)
    first = api.post("/api/messages", json={"message": "one", "handle": ana})
    group = first.raise_for_status().json()["message_group_uuid"]
    one = first.json()["uuid"]

    def send(text: str) -> None:
        body = {"message": text, "message_group_uuid": group}
        api.post("/api/messages", json=body).raise_for_status()

    streams: list[Route] = []

    def hold_the_first(route: Route) -> None:
        streams.append(route)
        if len(streams) > 1:
            route.continue_()

    page = new_context().new_page()
    with page.expect_request(re.compile(r"/api/events\?")):  # the list's own stream
        sign_in(page, ana)
    page.route(re.compile(r"/api/events\?"), hold_the_first)
    page.goto(f"/messages/{group}")
    expect(messages(page)).to_have_count(1)
    page.evaluate("window.notReloaded = true")
    with httpx.stream("GET", streams[0].request.url, timeout=10) as stream:
        lines = stream.iter_lines()
        opening = _relay_until_id(lines)
        send("two")
        relayed = opening + _relay_until(lines, "two")
    for text in ("three", "four"):
        send(text)
    api.delete(f"/api/messages/{group}/{one}").raise_for_status()
    later: list[Request] = []

    def record(request: Request) -> None:
        later.append(request)

    page.on("request", record)
    streams[0].fulfill(content_type="text/event-stream", body="\n".join(relayed) + "\n")

    expect(messages(page)).to_have_count(4)
    expect(messages(page).last).to_contain_text("four")
    expect(messages(page).first).to_contain_text("message deleted")
    assert "since=" in streams[-1].request.url
    assert page.evaluate("window.notReloaded") is True
    refetches = [r.url for r in later if r.method == "GET" and "/api/message" in r.url]
    assert [urlsplit(url).path for url in refetches] == [f"/api/messages/{group}"]


def test_a_message_the_server_cannot_show_is_a_neutral_note(
    new_context: CreateContextCallback, web_server: WebServer
) -> None:
    """``message: null`` with a ``message_error`` (text that does not decrypt), in the list
    and in the conversation: a neutral note, never the raw value or the error code."""
    jo, kim = web_server.create_user("Jo Lane"), web_server.create_user("Kim Ode")
    with web_server.api(jo) as api:
        sent = api.post("/api/messages", json={"message": "sealed", "handle": kim}).json()
    group = sent["message_group_uuid"]

    def undecryptable(route: Route) -> None:
        answer = route.fetch()
        items = answer.json()
        for item in items:
            item.update(message=None, message_error="message_undecryptable")
        route.fulfill(response=answer, json=items)

    page = new_context().new_page()
    page.route("**/api/message_groups*", undecryptable)
    page.route(f"**/api/messages/{group}*", undecryptable)
    sign_in(page, kim)
    row = conversation_row(page, "Jo Lane")
    expect(row).to_contain_text("This message can't be shown")
    row.click()
    expect(messages(page)).to_have_count(1)
    expect(messages(page).first).to_contain_text("This message can't be shown")
    for text in ("null", "message_undecryptable", "sealed"):
        expect(page.get_by_role("main")).not_to_contain_text(text)
