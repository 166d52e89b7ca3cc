"""``POST /chats/{chat}/pause`` takes only a real duration, so its journal line stays valid."""

from __future__ import annotations

import pytest

from conserje.http.chats import MAX_PAUSE_MINUTES
from tests.audit.conftest import run_log
from tests.http.conftest import CHAT


@pytest.mark.parametrize(
    "body",
    [
        b'{"minutes": NaN}',
        b'{"minutes": Infinity}',
        b'{"minutes": -Infinity}',
        b'{"minutes": 1e308}',
        b'{"minutes": 1' + b"0" * 400 + b"}",
        b'{"minutes": true}',
        b'{"minutes": 0}',
        b'{"minutes": -5}',
        b'{"minutes": "10"}',
        b'{"minutes": %d}' % (MAX_PAUSE_MINUTES + 1),
        b"[5]",
        b"null",
        b"5",
    ],
)
def test_a_pause_that_is_not_a_duration_is_refused_and_the_journal_stays_valid(
    client, runtime, tmp_path, body
):
    answer = client.simulate_post(
        f"/chats/{CHAT}/pause", body=body, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400
    assert "minutes" in answer.json["title"]
    runtime.shutdown(timeout=5)
    verify = run_log("verify", CONSERJE_DATA_DIR=str(tmp_path / "data"))
    assert verify.returncode == 0, verify.stdout


def test_the_longest_pause_allowed_is_journaled(client, runtime):
    answer = client.simulate_post(f"/chats/{CHAT}/pause", json={"minutes": MAX_PAUSE_MINUTES})

    assert answer.status_code == 200
    assert answer.json["pausedUntil"] == pytest.approx(
        runtime.clock.now() + MAX_PAUSE_MINUTES * 60, abs=5
    )


def test_a_body_nested_too_deeply_is_a_bad_request(client):
    answer = client.simulate_post(
        f"/chats/{CHAT}/pause",
        body=b"[" * 100_000 + b"]" * 100_000,
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 400
