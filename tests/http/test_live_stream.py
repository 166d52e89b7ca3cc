"""``GET /dashboard/events``: the journal as server-sent events, resumable and bounded."""

from __future__ import annotations

import threading

import falcon
import falcon.testing
import pytest

from conserje.eventlog.events import MessageReceived
from conserje.http.live import EventStreamResource
from conserje.testing.wait import wait_for
from tests.http.conftest import CHAT
from tests.sse import parse


def message(text: str) -> MessageReceived:
    return MessageReceived(chat=CHAT, message_id=f"id-{text}", text=text)


def stream_client(runtime, **options) -> falcon.testing.TestClient:
    """An app with only the stream, made short so a test can read it to its end."""
    app = falcon.App()
    options = {"seconds": 0.3, "heartbeat": 0.05, **options}
    app.add_route("/dashboard/events", EventStreamResource(runtime, **options))
    return falcon.testing.TestClient(app)


def test_the_stream_sends_each_event_with_its_seq_then_ends_by_itself(runtime):
    runtime.journal.append([message("hola"), message("¿hay sitio?")])

    answer = stream_client(runtime).simulate_get("/dashboard/events")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.text.startswith("retry: 1000\n\n")
    messages, comments = parse(answer.text)
    assert [(m.id, m.event) for m in messages] == [
        ("1", "message"),
        ("2", "message"),
        (None, "end"),
    ]
    # Its time is up: it says so, with where the next one starts.
    assert messages[-1].json() == {"lastSeen": 2}
    first = messages[0].json()
    assert (first["seq"], first["type"], first["who"]) == (1, "message_received", "guest")
    assert first["story"] == '"hola"'
    assert first["fields"]["text"] == "hola"
    # Nothing else happened: the stream kept itself alive until its time was up.
    assert "keep-alive" in comments


def test_a_client_resumes_after_the_last_event_it_saw(runtime):
    for text in "abcd":
        runtime.journal.append([message(text)])
    client = stream_client(runtime)

    by_header = client.simulate_get("/dashboard/events", headers={"Last-Event-ID": "2"})
    by_query = client.simulate_get("/dashboard/events", params={"after": "2"})

    for answer in by_header, by_query:
        *messages, end = parse(answer.text)[0]
        assert [m.json()["fields"]["text"] for m in messages] == ["c", "d"]
        assert all(m.event == "message" for m in messages)
        assert (end.event, end.json()) == ("end", {"lastSeen": 4})


@pytest.mark.parametrize(
    ("headers", "params"),
    [({"Last-Event-ID": "seven"}, {}), ({"Last-Event-ID": "-1"}, {}), ({}, {"after": "-1"})],
)
def test_a_seq_that_is_not_one_is_refused(runtime, headers, params):
    answer = stream_client(runtime).simulate_get(
        "/dashboard/events", headers=headers, params=params
    )
    assert answer.status_code == 400


def test_a_client_whose_events_are_gone_is_told_of_the_gap(make_runtime):
    before = make_runtime()
    for text in "abc":
        before.journal.append([message(text)])
    before.shutdown(timeout=5)
    runtime = make_runtime()  # the server restarted: its feed starts at seq 3
    runtime.journal.append([message("d")])
    client = stream_client(runtime)

    missed = client.simulate_get("/dashboard/events", headers={"Last-Event-ID": "1"})
    caught_up = client.simulate_get("/dashboard/events", headers={"Last-Event-ID": "3"})

    gap, event, _ = parse(missed.text)[0]
    assert (gap.event, gap.id) == ("gap", "3")
    assert gap.json() == {"lastSeen": 1, "resumesAfter": 3}
    assert (event.id, event.json()["fields"]["text"]) == ("4", "d")
    assert [(m.event, m.id) for m in parse(caught_up.text)[0]] == [
        ("message", "4"),
        ("end", None),
    ]


def open_stream(resource: EventStreamResource):
    """Call the resource as the app would and return the body it would stream."""
    resp = falcon.Response()
    resource.on_get(falcon.testing.create_req(path="/dashboard/events"), resp)
    return resp.stream


def test_streams_beyond_the_cap_are_refused_until_one_is_closed(runtime):
    resource = EventStreamResource(runtime, max_streams=2)
    first, second = open_stream(resource), open_stream(resource)

    with pytest.raises(falcon.HTTPServiceUnavailable) as refused:
        open_stream(resource)
    assert refused.value.headers["Retry-After"] == "5"

    # A body the server closes without ever reading it frees its slot too.
    first.close()
    third = open_stream(resource)
    for stream in second, third:
        stream.close()
    open_stream(resource).close()


def test_a_stream_whose_time_is_up_frees_its_slot_before_it_says_end(runtime):
    runtime.journal.append([message("a")])
    resource = EventStreamResource(runtime, max_streams=1, seconds=0.2, heartbeat=0.05)
    stream = open_stream(resource)
    received = b""

    for chunk in stream:
        received += chunk
        if b"event: end" in chunk:
            # The client opens its next stream on reading this, while this one winds up.
            open_stream(resource).close()
            break
    stream.close()

    *_, end = parse(received.decode())[0]
    assert (end.event, end.json()) == ("end", {"lastSeen": 1})


def test_stopping_the_server_ends_open_streams_at_once(runtime):
    resource = EventStreamResource(runtime, max_streams=1, seconds=600, heartbeat=600)
    stream = open_stream(resource)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(stream))
    reader.start()
    runtime.journal.append([message("a")])
    wait_for(lambda: b"".join(chunks).count(b"\n\n") >= 2, what="the retry line and one event")

    runtime.feed.close()
    reader.join(timeout=10)

    assert not reader.is_alive()
    stream.close()
    messages, _ = parse(b"".join(chunks).decode())
    # No "end": the stream did not run its time, the server went away.
    assert [(m.id, m.event) for m in messages] == [("1", "message")]
