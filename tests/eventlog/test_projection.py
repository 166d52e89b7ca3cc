"""A chat's state folded from its events, and the set of message ids already seen."""

from __future__ import annotations

import threading

import msgspec
import pytest

from conserje.eventlog.events import (
    ContextReset,
    MessageReceived,
    ReplySending,
    ReplySent,
    RunFinished,
    RunStarted,
    ThreadCompacted,
    TurnFinished,
    TurnStarted,
)
from conserje.eventlog.projection import ChatState, HistoryItem
from conserje.eventlog.seen import SeenIds

CHAT = "34644555666@s.whatsapp.net"
OTHER_CHAT = "34688999000@s.whatsapp.net"


def stamped(events, first_seq=1, base_ts=1_750_000_000.0):
    """Number events the way the journal would: seq and version in order, ts growing."""
    return [
        msgspec.structs.replace(event, seq=first_seq + i, version=first_seq + i, ts=base_ts + i)
        for i, event in enumerate(events)
    ]


def received(message_id, text, sender="Bruno Salas", chat=CHAT):
    return MessageReceived(chat=chat, message_id=message_id, sender=sender, text=text)


def fold(events, chat=CHAT) -> ChatState:
    state = ChatState(chat)
    for event in events:
        state.apply(event)
    return state


def replied_turn(turn_id, message_ids, chunks):
    """The steps of a turn that sent every chunk of its reply."""
    steps = [
        TurnStarted(chat=CHAT, turn_id=turn_id, message_ids=message_ids),
        RunStarted(chat=CHAT, turn_id=turn_id, response_id="resp_8k2", model="m", background=True),
        RunFinished(chat=CHAT, turn_id=turn_id, status="completed", text="\n\n".join(chunks)),
    ]
    for n, chunk in enumerate(chunks):
        steps.append(ReplySending(chat=CHAT, turn_id=turn_id, chunk=n, text=chunk))
        steps.append(
            ReplySent(chat=CHAT, turn_id=turn_id, chunk=n, whapi_id=f"W{turn_id}-{n}", text=chunk)
        )
    steps.append(TurnFinished(chat=CHAT, turn_id=turn_id, outcome="replied"))
    return steps


# --- ChatState ------------------------------------------------------------------------


def test_received_messages_wait_as_pending():
    state = fold(stamped([received("a1", "Hola"), received("a2", "¿Abrís hoy?")]))

    assert list(state.pending) == ["a1", "a2"]
    assert state.guest_name == "Bruno Salas"
    assert state.version == 2
    assert state.has_work
    assert state.turn is None


def test_a_turn_consumes_only_the_messages_it_names():
    state = fold(
        stamped(
            [
                received("a1", "Hola"),
                received("a2", "¿Abrís hoy?"),
                TurnStarted(chat=CHAT, turn_id="t1", message_ids=["a1"]),
            ]
        )
    )

    assert list(state.pending) == ["a2"]
    assert state.turn is not None
    assert state.turn.turn_id == "t1"
    assert [m.message_id for m in state.turn.messages] == ["a1"]
    assert state.turn.started_at == pytest.approx(1_750_000_002.0)


def test_run_and_reply_steps_update_the_turn():
    events = stamped(
        [
            received("a1", "¿Hay desayuno?"),
            TurnStarted(chat=CHAT, turn_id="t1", message_ids=["a1"]),
            RunStarted(chat=CHAT, turn_id="t1", response_id="resp_41", model="m", background=True),
        ]
    )
    state = fold(events)
    assert state.turn.response_id == "resp_41"
    assert state.turn.background is True
    assert state.turn.run_status == "started"

    more = stamped(
        [
            RunFinished(
                chat=CHAT, turn_id="t1", status="completed", text="Sí, de 8 a 11.\n\nEn la terraza."
            ),
            ReplySending(chat=CHAT, turn_id="t1", chunk=0, text="Sí, de 8 a 11."),
            ReplySent(chat=CHAT, turn_id="t1", chunk=0, whapi_id="Wx1", text="Sí, de 8 a 11."),
            ReplySending(chat=CHAT, turn_id="t1", chunk=1, text="En la terraza."),
        ],
        first_seq=4,
    )
    for event in more:
        state.apply(event)

    assert state.turn.run_status == "completed"
    assert state.turn.reply == "Sí, de 8 a 11.\n\nEn la terraza."
    assert state.turn.intended == {0: "Sí, de 8 a 11.", 1: "En la terraza."}
    assert state.turn.sent == {0: "Wx1"}
    assert state.turn.uncertain_chunks == [1]
    assert list(state.sent_ids) == ["Wx1"]
    assert state.version == 7


def test_uncertain_chunks_are_the_intended_ones_never_confirmed():
    state = fold(
        stamped(
            [
                received("a1", "¿Precio?"),
                TurnStarted(chat=CHAT, turn_id="t1", message_ids=["a1"]),
                ReplySending(chat=CHAT, turn_id="t1", chunk=0, text="Uno"),
                ReplySending(chat=CHAT, turn_id="t1", chunk=1, text="Dos"),
                ReplySending(chat=CHAT, turn_id="t1", chunk=2, text="Tres"),
                ReplySent(chat=CHAT, turn_id="t1", chunk=1, whapi_id="Wd2", text="Dos"),
            ]
        )
    )

    assert state.turn.uncertain_chunks == [0, 2]


def test_finished_turn_adds_one_user_and_one_assistant_history_item():
    events = stamped(
        [
            received("a1", "Hola"),
            received("a2", "Somos cuatro"),
            received("a3", "¿Hay mesa a las nueve?"),
            *replied_turn("t1", ["a1", "a2", "a3"], ["¡Hola!", "Sí, a las nueve hay sitio."]),
        ]
    )
    state = fold(events)

    assert list(state.history) == [
        HistoryItem("user", "Hola\nSomos cuatro\n¿Hay mesa a las nueve?"),
        HistoryItem("assistant", "¡Hola!\n\nSí, a las nueve hay sitio."),
    ]
    assert state.turn is None
    assert state.pending == {}
    assert not state.has_work
    assert state.turns_completed == 1
    assert list(state.sent_ids) == ["Wt1-0", "Wt1-1"]


def test_history_keeps_only_the_chunks_actually_sent():
    state = fold(
        stamped(
            [
                received("a1", "¿Cómo llego?"),
                TurnStarted(chat=CHAT, turn_id="t1", message_ids=["a1"]),
                ReplySending(chat=CHAT, turn_id="t1", chunk=0, text="Coge el metro."),
                ReplySent(chat=CHAT, turn_id="t1", chunk=0, whapi_id="W0", text="Coge el metro."),
                ReplySending(chat=CHAT, turn_id="t1", chunk=1, text="Línea 3."),
                TurnFinished(chat=CHAT, turn_id="t1", outcome="failed", error="whapi down"),
            ]
        )
    )

    assert list(state.history) == [
        HistoryItem("user", "¿Cómo llego?"),
        HistoryItem("assistant", "Coge el metro."),
    ]


def test_failed_turn_without_sends_adds_only_the_guest_words():
    state = fold(
        stamped(
            [
                received("a1", "¿Tenéis cuna?"),
                TurnStarted(chat=CHAT, turn_id="t1", message_ids=["a1"]),
                RunFinished(chat=CHAT, turn_id="t1", status="error", error="timeout"),
                TurnFinished(chat=CHAT, turn_id="t1", outcome="failed", error="timeout"),
            ]
        )
    )

    assert list(state.history) == [HistoryItem("user", "¿Tenéis cuna?")]
    assert state.turn is None


def test_an_event_of_another_chat_is_refused():
    state = fold(stamped([received("a1", "Hola")]))

    with pytest.raises(ValueError, match="applied to"):
        state.apply(stamped([received("b1", "Hola", chat=OTHER_CHAT)], first_seq=9)[0])

    assert list(state.pending) == ["a1"]
    assert state.version == 1


@pytest.mark.parametrize(
    "event",
    [
        RunStarted(chat=CHAT, turn_id="ghost", response_id="r", model="m", background=False),
        RunFinished(chat=CHAT, turn_id="ghost", status="completed", text="x"),
        ReplySending(chat=CHAT, turn_id="ghost", chunk=0, text="x"),
        ReplySent(chat=CHAT, turn_id="ghost", chunk=0, whapi_id="W", text="x"),
        TurnFinished(chat=CHAT, turn_id="ghost", outcome="replied"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_step_of_a_turn_not_in_flight_is_refused(event):
    idle = fold(stamped([received("a1", "Hola")]))
    with pytest.raises(ValueError, match="not in flight"):
        idle.apply(event)

    busy = fold(
        stamped([received("a1", "Hola"), TurnStarted(chat=CHAT, turn_id="t1", message_ids=["a1"])])
    )
    with pytest.raises(ValueError, match="not in flight"):
        busy.apply(event)
    assert busy.turn.turn_id == "t1"


def test_a_step_after_its_turn_finished_is_refused():
    state = fold(stamped([received("a1", "Hola"), *replied_turn("t1", ["a1"], ["Buenas"])]))

    with pytest.raises(ValueError, match="not in flight"):
        state.apply(ReplySent(chat=CHAT, turn_id="t1", chunk=1, whapi_id="W9", text="x"))


def test_live_interleaving_gives_the_same_state_as_journal_order():
    journal = stamped(
        [
            received("a1", "¿Aceptáis perros?"),
            received("a2", "Es pequeño"),  # journaled before the turn, not named by it
            *replied_turn("t1", ["a1"], ["Sí, con suplemento."]),
        ]
    )
    late = journal[1]
    live = [journal[0], *journal[2:], late]

    in_order = fold(journal)
    interleaved = fold(live)

    assert list(in_order.pending) == list(interleaved.pending) == ["a2"]
    assert list(in_order.history) == list(interleaved.history)
    assert list(in_order.history) == [
        HistoryItem("user", "¿Aceptáis perros?"),
        HistoryItem("assistant", "Sí, con suplemento."),
    ]
    assert in_order.version == interleaved.version == journal[-1].version
    assert list(in_order.sent_ids) == list(interleaved.sent_ids)
    assert in_order.turn is None
    assert interleaved.turn is None
    assert in_order.guest_name == interleaved.guest_name


# --- SeenIds --------------------------------------------------------------------------


def test_claim_returns_only_ids_not_seen_before():
    seen = SeenIds()

    assert seen.claim(["x1", "x2"]) == {"x1", "x2"}
    assert seen.claim(["x2", "x3"]) == {"x3"}
    assert seen.claim(["x1"]) == set()
    assert "x3" in seen
    assert len(seen) == 3


def test_release_lets_an_id_be_claimed_again():
    seen = SeenIds()
    seen.claim(["x1", "x2"])

    seen.release(["x1", "never-claimed"])

    assert "x1" not in seen
    assert seen.claim(["x1", "x2"]) == {"x1"}


def test_the_limit_forgets_the_oldest_ids_first():
    seen = SeenIds(limit=3)
    seen.claim(["x1", "x2", "x3"])

    assert seen.claim(["x4"]) == {"x4"}

    assert len(seen) == 3
    assert "x1" not in seen
    assert all(i in seen for i in ("x2", "x3", "x4"))
    assert seen.claim(["x1"]) == {"x1"}
    assert "x2" not in seen


def test_ids_loaded_from_a_snapshot_are_duplicates_and_keep_their_order_and_limit():
    seen = SeenIds(limit=3)

    seen.load(["x1", "x2", "x3", "x4"])
    seen.load(["x3", "x4"])  # a second start tried after a first that failed

    assert seen.recent() == ["x2", "x3", "x4"]
    assert seen.claim(["x3", "x4", "x1"]) == {"x1"}
    assert seen.recent() == ["x3", "x4", "x1"]


def test_concurrent_claims_win_each_id_exactly_once():
    ids = [f"id-{n}" for n in range(1000)]
    seen = SeenIds()
    start = threading.Barrier(8)
    wins: list[set[str]] = [set() for _ in range(8)]

    def worker(slot: int) -> None:
        start.wait()
        for message_id in ids:
            wins[slot] |= seen.claim([message_id])

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    assert sum(len(w) for w in wins) == len(ids)
    assert set().union(*wins) == set(ids)


def test_a_turn_orders_its_messages_by_the_guests_clock_not_by_arrival():
    late_first = MessageReceived(chat=CHAT, message_id="b", text="segunda", sent_at=1_750_000_020)
    early_second = MessageReceived(chat=CHAT, message_id="a", text="primera", sent_at=1_750_000_010)
    state = fold(
        stamped(
            [
                late_first,
                early_second,
                TurnStarted(chat=CHAT, turn_id="t1", message_ids=["b", "a"]),
                TurnFinished(chat=CHAT, turn_id="t1", outcome="failed"),
            ]
        )
    )
    assert list(state.history) == [HistoryItem("user", "primera\nsegunda")]


# --- Compaction ---------------------------------------------------------------------

SEALED = [{"type": "compaction", "id": "cmp_1", "encrypted_content": "b3BhcXVl"}]


def compacted_by(method, kept, **fields):
    return ThreadCompacted(
        chat=CHAT, kept=kept, tokens_before=900, reason="threshold", method=method, **fields
    )


def two_turns():
    return [
        received("m1", "Somos cuatro"),
        *replied_turn("t1", ["m1"], ["¿Fechas?"]),
        received("m2", "Del 3 al 7"),
        *replied_turn("t2", ["m2"], ["Anotado"]),
    ]


def test_a_server_compaction_keeps_its_items_before_the_recent_history():
    state = fold(stamped([*two_turns(), compacted_by("server", 1, items=SEALED)]))

    assert state.compacted == SEALED
    assert [h.text for h in state.history] == ["Anotado"]


def test_a_later_summary_keeps_what_the_server_compacted_and_a_reset_drops_it():
    events = [*two_turns(), compacted_by("server", 2, items=SEALED)]
    events.append(compacted_by("summary", 1, summary="Cuatro adultos, del 3 al 7."))
    state = fold(stamped(events))
    assert state.compacted == SEALED
    assert [h.role for h in state.history] == ["developer", "assistant"]

    state.apply(stamped([ContextReset(chat=CHAT, by="admin")], first_seq=len(events) + 1)[0])
    assert state.compacted == []
    assert list(state.history) == []
