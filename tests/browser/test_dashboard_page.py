"""The dashboard in a real browser, against the real server: what an operator sees."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response, expect

from conserje.testing import payloads
from tests.e2e.conftest import settle

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TOKEN = "dashboard-admin-token"
GUEST = "34655000111@s.whatsapp.net"
OTHER = "34655000222@s.whatsapp.net"
QUESTION = "¿Hay sitio el viernes para dos?"
MARKUP = "<b>negrita</b><img src=x>"


class Troubles:
    """Everything that went wrong in the page: console errors, failed or refused requests."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")

    def _failed(self, request: Request) -> None:
        self.seen.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.seen.append(f"HTTP {response.status}: {response.url}")


def test_a_posted_webhook_and_its_reply_appear_live_and_tell_their_story(
    browser, make_server, whapi_fake, screenshot_dir, tmp_path
):
    expect.set_options(timeout=20_000)
    with make_server(ADMIN_TOKEN=TOKEN) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        troubles = Troubles(page)

        page.goto(f"{server.url}/dashboard?token={TOKEN}")
        # Signed in with a cookie; the token is gone from the address bar.
        assert page.url == f"{server.url}/dashboard"
        expect(page.locator("#connection")).to_have_text("live")

        assert whapi_fake.post_webhook(payloads.text_message(GUEST, QUESTION, name="Ana")) == 200
        feed = page.locator("#feed")
        expect(feed.locator(".kind-guest .story").first).to_contain_text(QUESTION)
        expect(feed.locator(".kind-reply .story").first).to_contain_text(f"echo: {QUESTION}")
        settle(server, whapi_fake, turns=1)

        # Journal text is shown as text, never turned into markup.
        assert whapi_fake.post_webhook(payloads.text_message(OTHER, MARKUP)) == 200
        expect(feed.locator(".kind-reply .story").first).to_contain_text(f"echo: {MARKUP}")
        assert feed.locator("b, img").count() == 0
        settle(server, whapi_fake, turns=2)

        expect(page.locator("#stat-chatActors")).to_have_text("2")
        expect(page.locator("#stat-turnsPerMinute")).not_to_have_text("0.0")
        chats = page.locator("#chats .chat-open")
        expect(chats).to_have_count(2)

        chats.filter(has_text="+34655000111").click()
        timeline = page.locator("#timeline")
        expect(page.locator("#timeline-pane")).to_be_visible()
        expect(page.locator("#timeline-chat")).to_have_text("+34655000111")
        expect(timeline.locator("li").last).to_contain_text("finished: replied")
        stories = timeline.locator(".story").all_inner_texts()
        assert f'"{QUESTION}" (from Ana)' in stories
        assert f'reply chunk 1 sending: "echo: {QUESTION}"' in stories
        assert not any(MARKUP in story for story in stories)  # the other chat's
        expect(page.locator("#timeline-note")).to_have_text(f"{len(stories)} events.")
        timeline.locator("summary").first.click()
        expect(timeline.locator(".fields").first).to_contain_text('"text": "' + QUESTION)

        expect(page.locator("#stat-turnsInFlight")).to_have_text("0")
        page.screenshot(path=screenshot_dir / "dashboard.png")
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=tmp_path / "dashboard-dark.png")
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=tmp_path / "dashboard-phone.png", full_page=True)

        assert troubles.seen == []
        page.close()


def test_the_page_stays_live_while_the_server_ends_its_streams(browser, make_server, whapi_fake):
    expect.set_options(timeout=20_000)
    # Each stream ends after a second, so the page goes through several in a few seconds.
    with make_server(DASHBOARD_STREAM_MS="1000") as server:
        page = browser.new_page()
        troubles = Troubles(page)
        streams: list[str] = []
        page.on(
            "request", lambda r: streams.append(r.url) if "/dashboard/events" in r.url else None
        )

        page.goto(f"{server.url}/dashboard")
        expect(page.locator("#connection")).to_have_text("live")
        page.evaluate(
            """() => {
                window.shown = [];
                const connection = document.getElementById("connection");
                new MutationObserver(() => window.shown.push(connection.textContent))
                    .observe(connection, { childList: true, characterData: true, subtree: true });
            }"""
        )
        page.wait_for_function(
            """() => performance.getEntriesByType("resource")
                .filter((entry) => entry.name.includes("/dashboard/events")).length >= 3"""
        )
        assert whapi_fake.post_webhook(payloads.text_message(GUEST, QUESTION)) == 200

        expect(page.locator("#feed .kind-guest .story").first).to_contain_text(QUESTION)
        shown = page.evaluate("window.shown")
        assert shown, "each new stream says the page is live"
        assert set(shown) == {"live"}
        # Each stream resumes after the last event the page saw.
        assert all("after=" in url for url in streams[1:])
        # No stream was cut short by the page, refused, or failed.
        assert troubles.seen == []
        page.close()
