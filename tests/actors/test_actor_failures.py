"""Guarantee 8: a chat actor that fails is journaled, restarted from the journal, and counted."""

from __future__ import annotations

import pykka
import pytest

from conserje.actors.chat import ChatActor
from conserje.actors.messages import ClearAll, Deliver
from conserje.actors.supervisor import RESTART_BACKOFF, RESTART_BACKOFF_MAX
from conserje.eventlog.events import MessageReceived
from conserje.eventlog.restore import rebuild_chats
from conserje.metrics import Metrics
from conserje.testing.wait import wait_for
from conserje.whapi.client import WhapiClient
from tests.actors.test_chat_actor import (
    GUEST,
    actor_world,
    deliver,
    drain,
    journal_events,
    say,
    tick,
)


class BuggyWhapi(WhapiClient):
    """A Whapi client with a bug: its first ``failures`` sends raise, as a bug would."""

    failures = 0

    def send_text(self, to: str, body: str, *, typing_time: int = 0) -> str:
        """Fail unexpectedly while failures remain, then send for real."""
        if BuggyWhapi.failures:
            BuggyWhapi.failures -= 1
            raise RuntimeError("unexpected bug while sending")
        return super().send_text(to, body, typing_time=typing_time)


@pytest.fixture
def buggy_world(tmp_path):
    metrics = Metrics()
    with actor_world(tmp_path, whapi_class=BuggyWhapi, metrics=metrics) as built:
        yield (*built, metrics)
    BuggyWhapi.failures = 0


def value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0.0


def say_and_wait(journal, supervisor, clock, *texts):
    """Deliver guest messages and let their burst close, so that their turn runs."""
    deliver(journal, supervisor, *texts)
    clock.advance(5.1)
    tick(supervisor, clock)


def restart_after_backoff(supervisor, clock):
    """Let the supervisor's restart backoff pass, and the new incarnation work."""
    drain(supervisor)
    clock.advance(RESTART_BACKOFF * 4)
    tick(supervisor, clock)
    tick(supervisor, clock)


def test_a_failure_is_journaled_and_the_restarted_actor_answers_once(buggy_world, tmp_path):
    clock, journal, supervisor, _oa, wh, board, metrics = buggy_world
    BuggyWhapi.failures = 1
    say_and_wait(journal, supervisor, clock, "hola")
    assert wh.sent == []
    (failed,) = journal_events(tmp_path, "handler_failed")
    assert failed["attempt"] == 1
    assert "unexpected bug while sending" in failed["error"]
    assert value(metrics, "conserje_chat_actor_restarts_total", reason="failure") == 1
    assert value(metrics, "conserje_unexpected_errors_total", where="chat_actor") == 1

    restart_after_backoff(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: hola"]
    assert [e["outcome"] for e in journal_events(tmp_path, "turn_finished")] == ["replied"]
    assert journal_events(tmp_path, "messages_quarantined") == []
    assert board.live_actors == 1


def test_work_that_fails_twice_is_quarantined_and_the_chat_goes_on(buggy_world, tmp_path):
    clock, journal, supervisor, _oa, wh, board, metrics = buggy_world
    BuggyWhapi.failures = 2
    say_and_wait(journal, supervisor, clock, "uno", "dos")
    restart_after_backoff(supervisor, clock)

    assert [e["attempt"] for e in journal_events(tmp_path, "handler_failed")] == [1, 2]
    (quarantined,) = journal_events(tmp_path, "messages_quarantined")
    assert quarantined["message_ids"] == ["m-uno", "m-dos"]
    (turn,) = journal_events(tmp_path, "turn_started")
    assert quarantined["turn_id"] == turn["turn_id"]
    wait_for(
        lambda: value(metrics, "conserje_quarantined_messages_total") == 2,
        timeout=5,
        what="quarantined messages counted",
    )
    assert value(metrics, "conserje_chat_actor_restarts_total", reason="failure") == 2
    assert wh.sent == []

    # The chat is not stuck: its next message gets its answer, without the set-aside ones.
    restart_after_backoff(supervisor, clock)
    say_and_wait(journal, supervisor, clock, "tres")
    assert [m.body for m in wh.sent] == ["echo: tres"]
    assert board.busy() == {}


def test_repeated_failures_back_off_longer_each_time(buggy_world, tmp_path):
    clock, journal, supervisor, _oa, wh, _board, metrics = buggy_world
    BuggyWhapi.failures = 3
    say_and_wait(journal, supervisor, clock, "uno")
    restart_after_backoff(supervisor, clock)
    restart_after_backoff(supervisor, clock)
    # Quarantined after two failures; the next message fails a third time.
    say_and_wait(journal, supervisor, clock, "dos")
    assert value(metrics, "conserje_chat_actor_restarts_total", reason="failure") == 3
    # The third restart waits 4 backoffs: not yet after 3 of them.
    clock.advance(RESTART_BACKOFF * 3)
    tick(supervisor, clock)
    assert pykka.ActorRegistry.get_by_class(ChatActor) == []
    clock.advance(RESTART_BACKOFF * 1.5)
    tick(supervisor, clock)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: dos"]


def test_clearing_restarts_every_actor_from_the_journal_and_loses_nothing(buggy_world, tmp_path):
    clock, journal, supervisor, _oa, wh, board, metrics = buggy_world
    other = "34699888777@s.whatsapp.net"
    say_and_wait(journal, supervisor, clock, "uno")
    deliver(journal, supervisor, "dos")
    supervisor.tell(ClearAll())
    # Arrives while the chat restarts: held, then handed to the new incarnation once.
    deliver(journal, supervisor, "tres")
    drain(supervisor)
    tick(supervisor, clock)
    assert value(metrics, "conserje_chat_actor_restarts_total", reason="cleared") == 1
    assert board.live_actors == 1
    assert other not in board.busy()

    clock.advance(5.1)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: uno", "echo: dos\ntres"]
    assert value(metrics, "conserje_chat_actor_restarts_total", reason="failure") == 0
    assert GUEST not in board.busy()


def test_a_message_the_restart_read_from_the_journal_is_not_applied_again_when_told_late(
    buggy_world, tmp_path
):
    clock, journal, supervisor, _oa, wh, _board, _metrics = buggy_world
    say_and_wait(journal, supervisor, clock, "uno")
    supervisor.tell(ClearAll())
    drain(supervisor)
    # Journaled while the chat restarts; the webhook's Deliver is slower than the rebuild.
    late = journal.append([MessageReceived(chat=GUEST, message_id="m-dos", text="dos")])
    tick(supervisor, clock)
    clock.advance(5.1)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: uno", "echo: dos"]

    supervisor.tell(Deliver(tuple(late)))
    clock.advance(5.1)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: uno", "echo: dos"]


def test_a_chat_the_journal_cannot_rebuild_yet_is_tried_again_and_counted(tmp_path):
    metrics = Metrics()
    attempts = []

    def rebuild_once_unreadable(chats):
        attempts.append(sorted(chats))
        if len(attempts) == 1:
            raise OSError("journal segment unreadable for a moment")
        return rebuild_chats(tmp_path / "journal", chats)

    with actor_world(tmp_path, metrics=metrics, rebuild=rebuild_once_unreadable) as built:
        clock, journal, supervisor, _oa, wh, board = built
        deliver(journal, supervisor, "uno")
        supervisor.tell(ClearAll())
        tick(supervisor, clock)
        assert attempts == [[GUEST]]
        assert value(metrics, "conserje_unexpected_errors_total", where="supervisor") == 1
        assert board.live_actors == 0
        deliver(journal, supervisor, "dos")

        clock.advance(RESTART_BACKOFF_MAX + 0.1)
        tick(supervisor, clock)
        assert len(attempts) == 2
        clock.advance(5.1)
        tick(supervisor, clock)
        assert [m.body for m in wh.sent] == ["echo: uno\ndos"]


def chat_actor_of(chat):
    """Return the live chat actor of ``chat``, found in Pykka's registry."""
    (ref,) = [
        r for r in pykka.ActorRegistry.get_by_class(ChatActor) if r.proxy().state.get().chat == chat
    ]
    return ref


def test_an_actor_dead_before_its_notice_arrives_drops_no_other_chats_message(tmp_path):
    other, newcomer = "34699999992@s.whatsapp.net", "34699999993@s.whatsapp.net"
    with actor_world(tmp_path, max_live=2, idle_after=600.0) as world:
        clock, journal, supervisor, _oa, wh, _board = world
        say(journal, supervisor, GUEST, "a1")
        clock.advance(1)
        say(journal, supervisor, other, "y1")
        clock.advance(5.1)
        tick(supervisor, clock)
        # GUEST's actor is gone and the supervisor has not heard yet; a newcomer finds
        # every slot taken, so the supervisor asks the longest idle actor (that one: both
        # went idle at once, and ties go by chat id) to make room.
        chat_actor_of(GUEST).stop()
        drafts = [
            MessageReceived(chat=newcomer, message_id="m-w1", text="w1"),
            MessageReceived(chat=other, message_id="m-y2", text="y2"),
        ]
        supervisor.tell(Deliver(tuple(journal.append(drafts))))
        clock.advance(5.1)
        tick(supervisor, clock)
        tick(supervisor, clock)
        assert "echo: y2" in [m.body for m in wh.sent]


def test_a_chat_waiting_out_its_restart_keeps_its_slot_under_the_cap(tmp_path):
    newcomer = "34600000099@s.whatsapp.net"
    with actor_world(tmp_path, whapi_class=BuggyWhapi, max_live=1, idle_after=600.0) as world:
        clock, journal, supervisor, _oa, wh, board = world
        BuggyWhapi.failures = 1
        say_and_wait(journal, supervisor, clock, "hola")
        drain(supervisor)
        # The failed chat waits out its backoff; the newcomer must not take its slot.
        say(journal, supervisor, newcomer, "hi")
        drain(supervisor)
        assert len(pykka.ActorRegistry.get_by_class(ChatActor)) == 0
        restart_after_backoff(supervisor, clock)
        assert len(pykka.ActorRegistry.get_by_class(ChatActor)) <= 1
        # Then each gets its answer, one actor at a time.
        for _ in range(4):
            clock.advance(5.1)
            tick(supervisor, clock)
            assert len(pykka.ActorRegistry.get_by_class(ChatActor)) <= 1
        assert sorted(m.body for m in wh.sent) == ["echo: hi", "echo: hola"]
        assert board.live_actors <= 1
    BuggyWhapi.failures = 0
