"""Query parameters and headers out of range get 400, never a 500."""

from __future__ import annotations

import pytest

from tests.http.conftest import CHAT


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/dashboard/events", {}, {"Last-Event-ID": "9" * 5000}),
        ("/dashboard/events", {}, {"Last-Event-ID": "1" * 20}),
        ("/dashboard/events", {}, {"Last-Event-ID": "-1"}),
        ("/dashboard/events", {}, {"Last-Event-ID": "١٢"}),
        ("/dashboard/events", {"after": "9" * 5000}, {}),
        ("/dashboard/events", {"after": "-1"}, {}),
        (f"/chats/{CHAT}/timeline", {"limit": "9" * 5000}, {}),
        (f"/chats/{CHAT}/timeline", {"limit": "0"}, {}),
        (f"/chats/{CHAT}/timeline", {"limit": "1e3"}, {}),
    ],
)
def test_an_unreadable_number_is_a_bad_request(client, path, params, headers):
    answer = client.simulate_get(path, params=params, headers=headers)

    assert answer.status_code == 400
    assert answer.json["title"]
