"""The chat simulator in a real browser, against ``conserje demo`` started as a newcomer would."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard_page import Troubles

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_a_guest_chats_gets_chunks_a_tool_call_and_a_hand_off_beside_the_journal(
    browser, start_demo, screenshot_dir
):
    expect.set_options(timeout=40_000)
    demo = start_demo()
    url = demo.url()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    troubles = Troubles(page)
    page.goto(url)
    expect(page.locator("#connection")).to_have_text("live")
    phone = page.locator("#chat-phone").inner_text().lstrip("+")
    messages = page.locator("#messages")
    journal = page.locator("#journal")
    replies = messages.locator(".msg.from-assistant")

    page.locator("#text").fill("hello")
    page.locator("#text").press("Enter")
    expect(messages.locator(".msg.from-guest").first).to_contain_text("hello")
    expect(page.locator("#status")).to_have_text("typing…")
    expect(replies.first).to_contain_text("Hello! 👋 Welcome to Casa Demo.")
    # The reply's paragraphs arrive as separate messages, and the demo says what it is.
    expect(replies).to_have_count(3)
    expect(replies.nth(1)).to_contain_text("not a real model")
    expect(page.locator("#status")).to_have_text("online")
    expect(journal.locator('[data-type="message_received"]').first).to_contain_text("hello")
    expect(journal.locator('[data-type="reply_sending"]')).to_have_count(3)

    page.locator("#text").fill("Is anything free from 2027-03-10 to 2027-03-12?")
    page.locator("#send").click()
    expect(journal.locator('[data-type="tool_called"]')).to_contain_text("check_availability")
    expect(messages).to_contain_text("Garden House (sleeps 6): 380 € for 2 nights")
    expect(replies.last).to_contain_text("Shall I ask the team to book one for you?")

    page.locator("#text").fill("Can I talk to a person?")
    page.locator("#text").press("Enter")
    expect(journal.locator('[data-type="tool_called"]').last).to_contain_text("escalate_to_human")
    expect(page.locator("#handoff")).to_be_visible()
    expect(journal.locator('[data-type="handoff_started"]')).to_have_count(1)
    expect(replies.last).to_contain_text("Until then I stay quiet in this chat.")

    page.locator("#send-voice").click()
    expect(messages.locator(".msg.from-guest").last).to_contain_text("🎤 Voice note")
    page.locator("#send-photo").click()
    expect(messages.locator(".msg.from-guest").last).to_contain_text("📷 Photo")
    # Both reached the server as Whapi webhooks.
    guest_types = [
        m["type"]
        for m in demo.http.get("/demo/chat", params={"phone": phone}).json()["messages"]
        if m["from"] == "guest"
    ]
    assert guest_types == ["text", "text", "text", "voice", "image"]
    # The stream ends every 30 s and the page opens the next at once; the picture shows it live.
    expect(page.locator("#connection")).to_have_text("live")
    page.screenshot(path=screenshot_dir / "simulator.png")

    page.locator("#resume").click()
    expect(page.locator("#handoff")).to_be_hidden()
    expect(journal.locator('[data-type="handoff_ended"]')).to_have_count(1)

    # With the assistant back, the sample voice note is transcribed and answered...
    page.locator("#send-voice").click()
    expect(journal.locator('[data-type="media_transcribed"]').last).to_contain_text("2027-03-10")
    expect(journal.locator('[data-type="tool_called"]')).to_have_count(3)
    expect(replies.last).to_contain_text("Shall I ask the team to book one for you?")
    # ...and the sample photo reaches the model as a picture.
    page.locator("#send-photo").click()
    expect(replies.last).to_contain_text("Thanks for the photo!")

    # On a phone the chat and the journal stack, with nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    assert troubles.seen == []
    page.close()
