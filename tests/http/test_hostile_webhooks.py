"""Hostile webhooks against the real app in this process: no 5xx, nothing lost, journal intact."""

from __future__ import annotations

import falcon.testing
from hypothesis import given

from conserje.audit.source import read_events
from conserje.eventlog.events import AgentMessage, MessageReceived
from conserje.http.app import create_app
from tests.audit.conftest import run_log
from tests.http.hostile import ANSWERS, Delivery, deliveries, fuzz_settings

# No turn may start during the run: the model is nowhere (and never the internet).
QUIET = {
    "BUFFER_WINDOW_MS": "600000",
    "BUFFER_MAX_WAIT_MS": "3600000",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "WHAPI_API_URL": "http://127.0.0.1:9",
    "BUFFER_MAX_MESSAGES": "10000",
    "WEBHOOK_MAX_BYTES": "1048576",
}


def test_hostile_webhooks_get_no_5xx_and_every_acknowledged_message_is_journaled(
    make_runtime, tmp_path
):
    runtime = make_runtime(**QUIET)
    client = falcon.testing.TestClient(create_app(runtime))
    acknowledged: list[str] = []
    received = 0

    @fuzz_settings(200)
    @given(deliveries)
    def post(delivery: Delivery) -> None:
        nonlocal received
        answer = client.simulate_post(
            "/hook", body=delivery.body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code in ANSWERS, (answer.status, answer.text[:300])
        assert runtime.failure is None
        if answer.status_code == 200:
            received += answer.json["received"]
            if delivery.marker is not None:
                acknowledged.append(delivery.marker)

    post()
    assert acknowledged, "no delivery carried an intact message: the strategy is broken"
    assert client.simulate_get("/health").json["status"] == "ok"
    runtime.shutdown(timeout=5)

    verify = run_log("verify", CONSERJE_DATA_DIR=str(tmp_path / "data"))
    assert verify.returncode == 0, verify.stdout
    events = list(read_events(tmp_path / "data" / "journal", progress=False))
    # "received" counts guests' messages and those typed on the business phone.
    journaled = [e.message_id for e in events if isinstance(e, MessageReceived | AgentMessage)]
    assert len(journaled) == len(set(journaled)), "a message was journaled twice"
    guests = {e.message_id for e in events if isinstance(e, MessageReceived)}
    assert not set(acknowledged) - guests
    assert len(journaled) == received
