"""Whapi's ``method`` and ``path`` webhook modes against the real server, token set.

The fake Whapi delivers guest messages and the echoes of Conserje's own sends in the
channel's mode, as Whapi does, so a reply that went out is recognised as ours (not as a
person typing on the business phone) only if the echo got through too.
"""

from __future__ import annotations

import pytest

from conserje.testing import payloads
from tests.e2e.conftest import settle
from tests.e2e.test_metrics import Scrape, moved

pytestmark = pytest.mark.e2e

GUEST = "34655000333@s.whatsapp.net"
TOKEN = "hook-t0ken-e2e"


def test_method_and_path_modes_deliver_messages_and_echoes_with_the_token_set(
    make_server, whapi_fake
):
    with make_server(WEBHOOK_TOKEN=TOKEN) as server:
        # Method mode, as Whapi's own Python bot sets it up: the token in a header.
        whapi_fake.webhook_url = f"{server.url}/hook"
        whapi_fake.webhook_mode = "method"
        whapi_fake.webhook_headers = {"Authorization": f"Bearer {TOKEN}"}
        before = Scrape(server)

        assert whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Hay sitio?")) == 200
        settle(server, whapi_fake, turns=1)
        edited = payloads.envelope(
            "messages",
            payloads.text_message(GUEST, "¿Hay sitio hoy?")["messages"],
            "messages",
            "patch",
        )
        assert whapi_fake.post_webhook(edited) == 200

        # Path mode, the token in the URL where only a URL can be configured.
        whapi_fake.webhook_url = f"{server.url}/hook/{TOKEN}"
        whapi_fake.webhook_mode = "path"
        whapi_fake.webhook_headers = {}
        assert whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Y mañana?")) == 200
        settle(server, whapi_fake, turns=2)
        after = Scrape(server)

        assert len(whapi_fake.sent_to(GUEST)) == 2
        assert [status for _, status in whapi_fake.webhook_deliveries] == [200, 200]
        assert [e["text"] for e in server.events("message_received")] == [
            "¿Hay sitio?",
            "¿Y mañana?",
        ]
        assert [e["outcome"] for e in server.events("turn_finished")] == ["replied", "replied"]
        assert server.events("agent_message") == []
        assert server.events("handoff_started") == []
        assert moved(before, after, "conserje_webhooks_total", outcome="accepted") == 2
        # The two echoes (POST /hook/messages, POST /hook/<token>/messages/post) and the edit.
        assert moved(before, after, "conserje_webhooks_total", outcome="ignored") == 3
        assert moved(before, after, "conserje_webhooks_total", outcome="unauthorized") == 0
