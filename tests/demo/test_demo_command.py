"""``conserje demo`` as a process: one URL, the fakes wired in, a clean stop, clear errors."""

from __future__ import annotations

import socket

import pytest

from conserje.testing.wait import wait_for
from tests.e2e.conftest import queue_burst

pytestmark = pytest.mark.e2e

PHONE = "34600000042"


def chat(demo, phone: str = PHONE) -> dict:
    answer = demo.http.get("/demo/chat", params={"phone": phone})
    assert answer.status_code == 200
    return answer.json()


def assistant_texts(demo, phone: str = PHONE) -> list[str]:
    return [m["text"] for m in chat(demo, phone)["messages"] if m["from"] == "assistant"]


def test_the_demo_prints_one_loopback_url_and_answers_a_guest_through_the_fakes(
    start_demo, tmp_path
):
    demo = start_demo("--data-dir", str(tmp_path / "kept"))
    url = demo.url()
    assert url == f"http://127.0.0.1:{demo.port}/dashboard/simulator"
    assert (
        demo.stdout.splitlines()[1] == f"(the journal is kept in {tmp_path / 'kept'}; Ctrl-C stops)"
    )
    page = demo.http.get("/dashboard/simulator")
    assert page.status_code == 200
    assert "chat simulator" in page.text

    sent = demo.http.post("/demo/send", json={"phone": PHONE, "text": "hello"})
    assert sent.status_code == 200
    assert sent.json()["webhookStatus"] == 200
    wait_for(lambda: len(assistant_texts(demo)) >= 3, timeout=60, what="the greeting's chunks")
    texts = assistant_texts(demo)
    assert texts[0].startswith("Hello!")
    assert any("not a real model" in t for t in texts)
    # The server journaled it all in the named data dir.
    assert list((tmp_path / "kept" / "journal").iterdir())

    assert demo.interrupt() == 0
    assert (tmp_path / "kept" / "journal").is_dir()


def test_bad_messages_get_a_clear_400(start_demo):
    demo = start_demo()
    demo.url()
    for body in (
        {"phone": "12", "text": "hi"},
        {"phone": PHONE, "text": ""},
        {"phone": PHONE, "kind": "video"},
        {"phone": PHONE, "text": "x" * 5000},
    ):
        answer = demo.http.post("/demo/send", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["title"].startswith("Bad")
    assert demo.http.get("/demo/chat", params={"phone": "abc"}).status_code == 400
    assert chat(demo)["messages"] == []


def test_ctrl_c_stops_everything_and_removes_the_temporary_data_dir(start_demo, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    demo = start_demo(tmpdir=tmpdir)
    demo.url()
    assert demo.stdout.splitlines()[1] == (
        "(the journal is in a temporary directory, deleted at Ctrl-C)"
    )
    (data_dir,) = tmpdir.glob("conserje-demo-*")
    assert (data_dir / "journal").is_dir()
    # The fakes are threads of this one process: its exit ends them too.
    assert demo.interrupt() == 0
    assert not data_dir.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", demo.port)) != 0


def test_a_busy_port_gives_one_clear_line_and_starts_nothing(start_demo):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = start_demo(port=port)
        assert demo.process.wait(timeout=30) == 2
    assert demo.stdout == ""
    assert demo.stderr.strip() == (
        f"conserje demo: port {port} on 127.0.0.1 is already in use; "
        "stop what uses it or choose another with --port N"
    )


def test_the_simulator_and_its_endpoints_do_not_exist_outside_the_demo(make_server):
    with make_server() as server:
        assert server.get("/dashboard/simulator").status_code == 404
        assert server.get("/dashboard/simulator.js").status_code == 404
        assert server.post("/demo/send", json={"phone": PHONE, "text": "hi"}).status_code == 404
        assert server.get("/demo/chat", params={"phone": PHONE}).status_code == 404


def test_a_burst_of_queued_requests_is_one_warning_in_the_demo_s_output(start_demo):
    demo = start_demo()
    demo.url()

    def queued() -> list[dict]:
        queue_burst(demo.port)
        problems = demo.http.get("/dashboard/stats").json()["problems"]
        return [p for p in problems if p["logger"] == "waitress.queue"]

    (shown,) = wait_for(queued, timeout=60, interval=0, what="a queue warning")

    assert shown["message"].startswith("Task queue depth is ")
    assert demo.stderr.count("Task queue depth is") == 1
