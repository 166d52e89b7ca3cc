"""Group commit: full batches, a relay that never stops at an appender that gave up."""

from __future__ import annotations

import threading
import time

from conserje.eventlog.events import MessageReceived
from conserje.eventlog.groupcommit import CommitQueue, Request, answer
from conserje.eventlog.jsonl import JsonlJournal

CHAT = "34600111222@s.whatsapp.net"


def waiting(request: Request[str], timeout: float = 5.0) -> tuple[threading.Thread, list[bool]]:
    """Start a thread waiting on ``request``; its outcome lands in the returned list."""
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(request.wait(timeout)), daemon=True)
    thread.start()
    return thread, outcome


def test_every_request_of_a_batch_is_answered_with_its_own_result():
    batch = [Request([f"event {n}"], None) for n in range(5)]
    waiters = [waiting(request) for request in batch]
    for request in batch:
        request.result = list(request.events)

    answer(batch)

    for thread, outcome in waiters:
        thread.join(5)
        assert outcome == [True]
    assert [r.result for r in batch] == [[f"event {n}"] for n in range(5)]


def test_an_appender_that_gave_up_does_not_stop_the_relay():
    first, gone, last = (Request([name], None) for name in ("first", "gone", "last"))
    waiters = [waiting(first), waiting(last)]
    assert gone.wait(0.01) is False

    answer([first, gone, last])

    for thread, outcome in waiters:
        thread.join(5)
        assert outcome == [True]


def test_giving_up_while_being_answered_neither_stalls_nor_loses_an_answer():
    """Time-outs racing the answer, many times: the patient last appender always hears back."""
    deadline = time.monotonic() + 20
    rounds = 0
    while rounds < 400 and time.monotonic() < deadline:
        batch = [Request([n], None) for n in range(5)]
        racers = [waiting(request, timeout=0.0003 * n) for n, request in enumerate(batch[:-1])]
        patient, outcome = waiting(batch[-1], timeout=2.0)
        time.sleep(0.0006)
        for request in batch:
            request.result = list(request.events)
        answer(batch)
        patient.join(5)
        assert outcome == [True], f"round {rounds}: the relay stopped at an appender that gave up"
        for thread, _ in racers:
            thread.join(5)
            assert not thread.is_alive()
        rounds += 1
    assert rounds >= 50


def test_the_writer_waits_a_little_for_a_batch_as_large_as_the_last():
    queue: CommitQueue[str] = CommitQueue(max_batch=100, delay=5.0)
    for n in range(3):
        queue.put(Request([f"a{n}"], None))
    assert len(queue.take() or []) == 3

    queue.put(Request(["b0"], None))
    late = threading.Timer(0.2, lambda: [queue.put(Request([f"b{n}"], None)) for n in (1, 2)])
    late.start()
    started = time.monotonic()
    batch = queue.take()
    waited = time.monotonic() - started

    assert [r.events[0] for r in batch or []] == ["b0", "b1", "b2"]
    assert waited < 4, "the wait ends when the batch is full, not at the delay"


def test_the_wait_for_a_full_batch_is_bounded_by_the_delay():
    queue: CommitQueue[str] = CommitQueue(max_batch=100, delay=0.05)
    for n in range(3):
        queue.put(Request([f"a{n}"], None))
    queue.take()

    queue.put(Request(["alone"], None))
    started = time.monotonic()
    batch = queue.take()

    assert [r.events[0] for r in batch or []] == ["alone"]
    assert time.monotonic() - started < 2
    queue.put(Request(["next"], None))
    assert [r.events[0] for r in queue.take() or []] == ["next"], "one short batch resets it"


def test_a_closed_queue_refuses_requests_and_hands_over_what_it_holds_first():
    queue: CommitQueue[str] = CommitQueue(max_batch=2, delay=0.05)
    for n in range(3):
        assert queue.put(Request([n], None))
    queue.close()

    assert queue.put(Request(["late"], None)) is False
    assert [r.events[0] for r in queue.take() or []] == [0, 1]
    assert [r.events[0] for r in queue.take() or []] == [2]
    assert queue.take() is None


def test_close_wakes_an_idle_writer():
    queue: CommitQueue[str] = CommitQueue(max_batch=2, delay=0.05)
    taken: list[object] = []
    writer = threading.Thread(target=lambda: taken.append(queue.take()), daemon=True)
    writer.start()
    time.sleep(0.05)

    queue.close()
    writer.join(5)

    assert taken == [None]


def test_an_append_that_timed_out_does_not_hold_up_the_appends_batched_with_it(tmp_path):
    """A stalled writer makes one webhook give up; the others in its batch still get answers."""
    stalled = threading.Event()
    resume = threading.Event()

    def stall_once(batch):
        if not stalled.is_set():
            stalled.set()
            resume.wait(10)

    journal = JsonlJournal(tmp_path / "j", clock=lambda: 5.0, on_append=[stall_once])
    journal.start()
    journal.append([MessageReceived(chat=CHAT, message_id="first", text="first")])
    assert stalled.wait(5)

    results: dict[str, object] = {}

    def append(name: str, timeout: float) -> None:
        event = MessageReceived(chat=CHAT, message_id=name, text=name)
        try:
            results[name] = journal.append([event], timeout=timeout)
        except Exception as exc:
            results[name] = exc

    impatient = threading.Thread(target=append, args=("impatient", 0.05))
    patient = [threading.Thread(target=append, args=(f"patient{n}", 10)) for n in range(3)]
    impatient.start()
    time.sleep(0.02)
    for thread in patient:
        thread.start()
    impatient.join(5)
    resume.set()
    for thread in patient:
        thread.join(5)
    journal.close()

    assert "not durable within 0.05 s" in str(results["impatient"])
    for n in range(3):
        (written,) = results[f"patient{n}"]  # type: ignore[misc]
        assert written.text == f"patient{n}"
    replayed = [e.text for e in JsonlJournal(tmp_path / "j", clock=lambda: 0.0).replay()]
    # Giving up does not unwrite: the append was queued and is durable, only late.
    assert sorted(replayed) == sorted(["first", "impatient", "patient0", "patient1", "patient2"])
