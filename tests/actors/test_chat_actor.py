"""The actor world driven by a manual clock: deadlines fire on ticks, not on sleeps."""

from __future__ import annotations

import contextlib
import functools
import json

import openai
import pykka
import pytest

from conserje.actors.board import Board
from conserje.actors.buffer import BufferPolicy
from conserje.actors.chat import ChatActor
from conserje.actors.clock import ManualClock
from conserje.actors.messages import Boot, Deliver, Tick
from conserje.actors.supervisor import Supervisor
from conserje.actors.ticker import Ticker
from conserje.actors.turn import TurnDeps
from conserje.assistant.responses import ResponsesModel
from conserje.eventlog.events import MessageReceived
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.restore import rebuild_chats, restore
from conserje.eventlog.seen import SeenIds
from conserje.eventlog.snapshot import write_snapshot
from conserje.metrics_projector import MetricsProjector
from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.whapi.client import WhapiClient

GUEST = "34611222333@s.whatsapp.net"


@contextlib.contextmanager
def actor_world(
    tmp_path,
    *,
    max_messages=50,
    deps_options=None,
    whapi_class=WhapiClient,
    metrics=None,
    **supervisor_options,
):
    """A supervisor on a manual clock, with a real journal and the two fakes.

    ``metrics``, when given, counts both what the journal says and what the
    supervisor sees, as in the server.
    """
    clock = ManualClock()
    with FakeOpenAI() as oa, FakeWhapi(token="t", echo=False) as wh:
        observers = []
        if metrics is not None:
            observers.append(MetricsProjector(metrics, token_threshold=0, tool_names=[]).observe)
            supervisor_options["metrics"] = metrics
        journal = JsonlJournal(tmp_path / "journal", clock=clock.now, on_append=observers)
        # As the server boots: from the newest snapshot and the journal after it.
        restored = restore(journal, tmp_path / "snapshots", SeenIds())
        journal.start()
        client = openai.OpenAI(api_key="k", base_url=oa.base_url, _strict_response_validation=True)
        model = ResponsesModel(
            client, model="m", instructions="be kind", background=True, clock=clock, run_timeout=60
        )
        whapi = whapi_class(wh.url, "t")
        deps = TurnDeps(journal, model, whapi, clock, "Europe/Madrid", **(deps_options or {}))
        policy = BufferPolicy(window=5.0, max_wait=20.0, max_messages=max_messages)
        board = Board()
        supervisor_options.setdefault(
            "rebuild", functools.partial(rebuild_chats, tmp_path / "journal")
        )
        supervisor = Supervisor.start(deps, policy, board, **supervisor_options)
        supervisor.tell(Boot(restored.states))
        try:
            yield clock, journal, supervisor, oa, wh, board
        finally:
            supervisor.stop()
            journal.close()
            whapi.close()


@pytest.fixture
def world(tmp_path, request):
    with actor_world(tmp_path, max_messages=getattr(request, "param", 50)) as built:
        yield built[:5]


def deliver(journal, supervisor, *texts):
    drafts = [MessageReceived(chat=GUEST, message_id=f"m-{t}", text=t) for t in texts]
    supervisor.tell(Deliver(tuple(journal.append(drafts))))


def drain(supervisor):
    """Wait until every actor has handled what was sent before (mailboxes are FIFO)."""
    supervisor.ask("sync")
    for ref in pykka.ActorRegistry.get_by_class(ChatActor):
        # An actor stopping to restart answers nothing more; the supervisor follows it.
        with contextlib.suppress(pykka.ActorDeadError):
            ref.ask("sync")
    supervisor.ask("sync")


def tick(supervisor, clock):
    """Let the ticker's next heartbeat happen now, and wait for its effects."""
    drain(supervisor)
    supervisor.ask(Tick(clock.now()))
    drain(supervisor)


def test_a_burst_is_answered_only_after_the_quiet_window(world):
    clock, journal, supervisor, _oa, wh = world
    deliver(journal, supervisor, "hola")
    clock.advance(4.9)
    tick(supervisor, clock)
    assert wh.sent == []

    clock.advance(0.2)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: hola"]


def test_a_message_inside_the_window_extends_it(world):
    clock, journal, supervisor, _oa, wh = world
    deliver(journal, supervisor, "uno")
    clock.advance(4.0)
    tick(supervisor, clock)
    deliver(journal, supervisor, "dos")
    clock.advance(4.0)
    tick(supervisor, clock)
    assert wh.sent == []

    clock.advance(1.1)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: uno\ndos"]


def test_the_absolute_cap_closes_a_burst_that_never_goes_quiet(world):
    clock, journal, supervisor, _oa, wh = world
    for n in range(5):
        assert wh.sent == []
        deliver(journal, supervisor, f"parte{n}")
        clock.advance(4.5)
        tick(supervisor, clock)
    # The window alone would wait until 18 + 5 = 23 s; the 20 s cap closed it at 22.5.
    assert [m.body for m in wh.sent] == ["echo: parte0\nparte1\nparte2\nparte3\nparte4"]


@pytest.mark.parametrize("world", [3], indirect=True)
def test_max_messages_flushes_at_once_without_a_tick(world):
    clock, journal, supervisor, _oa, wh = world
    deliver(journal, supervisor, "a", "b", "c")
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: a\nb\nc"]


def test_a_ticker_that_never_started_stops_quietly():
    Ticker(target=None, clock=ManualClock()).stop()


@pytest.fixture
def small_world(tmp_path):
    """A supervisor that passivates chats idle for a minute, or beyond two live actors."""
    with actor_world(tmp_path, idle_after=60.0, max_live=2) as built:
        yield built


def say(journal, supervisor, chat, text):
    drafts = [MessageReceived(chat=chat, message_id=f"m-{chat}-{text}", text=text)]
    supervisor.tell(Deliver(tuple(journal.append(drafts))))


def test_an_idle_chat_is_passivated_and_comes_back_with_its_history(small_world):
    clock, journal, supervisor, oa, wh, board = small_world
    say(journal, supervisor, GUEST, "Soy Inés")
    clock.advance(5.1)
    tick(supervisor, clock)
    assert board.live_actors == 1

    clock.advance(61)
    tick(supervisor, clock)
    drain(supervisor)
    assert board.live_actors == 0
    assert pykka.ActorRegistry.get_by_class(ChatActor) == []

    say(journal, supervisor, GUEST, "¿Cómo me llamo?")
    clock.advance(5.1)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: Soy Inés", "echo: ¿Cómo me llamo?"]
    assert "Soy Inés" in str(oa.created()[-1]["input"])


def test_a_chat_a_snapshot_holds_with_a_message_waiting_is_answered_with_its_history(tmp_path):
    with actor_world(tmp_path) as (clock, journal, supervisor, _oa, wh, _board):
        say(journal, supervisor, GUEST, "Soy Inés")
        clock.advance(5.1)
        tick(supervisor, clock)
        assert [m.body for m in wh.sent] == ["echo: Soy Inés"]
        say(journal, supervisor, GUEST, "¿Cómo me llamo?")  # the server stops before its turn
    before = JsonlJournal(tmp_path / "journal", clock=clock.now)
    seen = SeenIds()
    restored = restore(before, tmp_path / "snapshots", seen)
    write_snapshot(tmp_path / "snapshots", before.position(), restored.states, seen.recent())
    assert restore(before, tmp_path / "snapshots", SeenIds()).replayed == 0

    with actor_world(tmp_path) as (clock, _journal, supervisor, oa, wh, _board):
        clock.advance(25)
        tick(supervisor, clock)
        tick(supervisor, clock)
        assert [m.body for m in wh.sent] == ["echo: ¿Cómo me llamo?"]
        assert "Soy Inés" in str(oa.created()[-1]["input"])


def test_a_message_arriving_while_its_chat_stops_is_handed_to_the_next_actor(small_world):
    clock, journal, supervisor, _oa, wh, _board = small_world
    say(journal, supervisor, GUEST, "uno")
    clock.advance(5.1)
    tick(supervisor, clock)
    clock.advance(61)
    drain(supervisor)
    # The tick asks the idle chat to stop; the message queued right behind it reaches
    # the supervisor before the chat's answer does, so it must be held, not lost.
    supervisor.tell(Tick(clock.now()))
    say(journal, supervisor, GUEST, "dos")
    drain(supervisor)
    drain(supervisor)
    clock.advance(5.1)
    tick(supervisor, clock)
    assert [m.body for m in wh.sent] == ["echo: uno", "echo: dos"]


def test_too_many_live_actors_passivate_the_least_recently_active(small_world):
    clock, journal, supervisor, _oa, wh, board = small_world
    for n, chat in enumerate([f"3460000000{n}@s.whatsapp.net" for n in range(3)]):
        say(journal, supervisor, chat, f"hola {n}")
        clock.advance(6)
        tick(supervisor, clock)
    drain(supervisor)
    assert board.live_actors == 2
    assert len(wh.sent) == 3


def test_a_chat_beyond_the_cap_waits_for_a_free_actor_and_is_answered(small_world):
    # Found by the soak: the cap only passivated idle actors, so a burst of new chats
    # started an actor (and a thread) each, far past ACTOR_MAX_LIVE.
    clock, journal, supervisor, _oa, wh, board = small_world
    chats = [f"3460000001{n}@s.whatsapp.net" for n in range(3)]
    for n, chat in enumerate(chats):
        say(journal, supervisor, chat, f"hola {n}")
    drain(supervisor)
    assert board.live_actors == 2
    assert len(pykka.ActorRegistry.get_by_class(ChatActor)) == 2

    for _ in range(3):
        clock.advance(5.1)
        tick(supervisor, clock)
        assert board.live_actors <= 2
    assert sorted(m.body for m in wh.sent) == ["echo: hola 0", "echo: hola 1", "echo: hola 2"]


def test_a_deadline_of_a_stopped_actor_does_not_hold_up_the_others(small_world):
    # Seen in the soak: a Tick for an actor that had just stopped raised ActorDeadError
    # in the supervisor, and the chats due after it in that tick waited for the next.
    clock, journal, supervisor, _oa, wh, _board = small_world
    gone, other = "34600000020@s.whatsapp.net", "34600000021@s.whatsapp.net"
    say(journal, supervisor, gone, "uno")
    say(journal, supervisor, other, "dos")
    drain(supervisor)
    for ref in pykka.ActorRegistry.get_by_class(ChatActor):
        if ref.proxy().state.get().chat == gone:
            ref.stop()
    clock.advance(5.1)
    supervisor.ask(Tick(clock.now()))
    drain(supervisor)
    assert [m.body for m in wh.sent] == ["echo: dos"]


def test_the_sweep_compacts_a_chat_whose_compaction_failed_after_its_turn(tmp_path):
    options = {"token_threshold": 50, "summary_tokens": 100, "compaction_method": "summary"}
    with actor_world(tmp_path, deps_options=options, sweep_every=600.0) as built:
        clock, journal, supervisor, oa, wh, _ = built
        oa.reply = lambda body: "" if "memory" in body.get("instructions", "") else "Entendido."
        deliver(journal, supervisor, "Llegamos tarde el viernes, sobre las once " * 8)
        clock.advance(5.1)
        tick(supervisor, clock)
        assert [m.body for m in wh.sent] == ["Entendido."]
        assert compactions(tmp_path) == []

        oa.reply = lambda body: "Resumen: llegan el viernes hacia las once."
        clock.advance(601)
        tick(supervisor, clock)
        drain(supervisor)

        (compacted,) = compactions(tmp_path)
        assert compacted["reason"] == "sweep"
        assert compacted["summary"] == "Resumen: llegan el viernes hacia las once."


def test_the_sweep_wakes_a_passivated_chat_over_the_threshold(tmp_path):
    options = {"token_threshold": 50, "summary_tokens": 100, "compaction_method": "summary"}
    with actor_world(tmp_path, deps_options=options, sweep_every=600.0) as built:
        clock, journal, supervisor, oa, _wh, board = built
        oa.reply = lambda body: "" if "memory" in body.get("instructions", "") else "Entendido."
        deliver(journal, supervisor, "Llegamos tarde el viernes, sobre las once " * 8)
        clock.advance(5.1)
        tick(supervisor, clock)
        clock.advance(301)
        tick(supervisor, clock)
        drain(supervisor)
        assert board.live_actors == 0

        oa.reply = lambda body: "Resumen: llegan el viernes."
        clock.advance(300)
        tick(supervisor, clock)
        drain(supervisor)
        assert [c["reason"] for c in compactions(tmp_path)] == ["sweep"]


def journal_events(tmp_path, kind):
    """Return the events of type ``kind`` in the world's journal, as on disk."""
    lines = sorted((tmp_path / "journal").glob("*.jsonl"))
    events = [json.loads(line) for path in lines for line in path.read_text().splitlines()]
    return [e for e in events if e["type"] == kind]


def compactions(tmp_path):
    return journal_events(tmp_path, "thread_compacted")
