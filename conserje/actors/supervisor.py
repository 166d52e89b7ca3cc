"""The supervisor: the only holder of chat actor references.

HTTP threads ``tell`` it what the webhook journaled; it routes each chat's events to that
chat's actor, creating the actor on the chat's first message from the chat's projection.
Before boot has replayed the journal it holds what arrives and hands it over after, so a
webhook accepted during replay is processed once replay is done. It also turns the
ticker's heartbeat into per-chat deadlines, so no chat needs a timer thread of its own,
and counts what only it sees: live actors, their mailboxes, and guest messages that
arrive while their chat's turn is in flight.

It also keeps the actor world bounded: a chat actor idle for ``idle_after`` seconds,
or the least recently active idle ones when more than ``max_live`` are alive, is
asked to stop (:class:`Passivate`). It hands its state back (:class:`Passivated`) or
declines if work arrived (:class:`StillBusy`); whatever reaches the supervisor for
that chat in between is held and handed to the next incarnation, so nothing is ever
sent to a stopped mailbox.
"""

from __future__ import annotations

import logging
import queue
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pykka

from conserje.actors.board import Board
from conserje.actors.buffer import BufferPolicy
from conserje.actors.chat import ChatActor
from conserje.actors.messages import (
    Boot,
    ChatStatus,
    Compact,
    Deliver,
    Passivate,
    Passivated,
    Presence,
    StillBusy,
    Tick,
)
from conserje.actors.turn import TurnDeps
from conserje.eventlog.events import Event, MessageReceived
from conserje.eventlog.projection import ChatState
from conserje.metrics import MAILBOX_SAMPLE_SECONDS, Metrics

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)


class Supervisor(pykka.ThreadingActor):
    """Routes journaled events to chat actors and drives their deadlines.

    Args:
        deps: what every chat actor's turns need.
        policy: the buffering policy every chat uses.
        board: where chat status is published for the HTTP views.
        metrics: where the actor world is counted (by default, metrics of its own).
        idle_after: seconds without activity after which a chat actor is passivated.
        max_live: chat actors alive at most: beyond it idle ones are passivated early,
            and a chat with no actor waits (its messages held, in arrival order) until
            one stops.
        sweep_every: seconds between sweeps that compact idle chats still over the
            token threshold (``CLEANUP_INTERVAL``), e.g. after a compaction failed.
        wake: called with each new deadline, so the ticker can tick right then
            (``Ticker.wake_at``); without it deadlines wait for the next regular tick.
    """

    def __init__(
        self,
        deps: TurnDeps,
        policy: BufferPolicy,
        board: Board,
        metrics: Metrics | None = None,
        *,
        idle_after: float = 300.0,
        max_live: int = 1000,
        sweep_every: float = 3600.0,
        wake: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self._deps = deps
        self._policy = policy
        self._board = board
        self._metrics = metrics or Metrics()
        self._mailboxes_sampled = float("-inf")
        self._states: dict[str, ChatState] = {}
        self._actors: dict[str, pykka.ActorRef[Any]] = {}
        self._deadlines: dict[str, float] = {}
        self._early: list[Deliver] | None = []
        self._idle_after = idle_after
        self._max_live = max_live
        self._last_active: dict[str, float] = {}
        self._sweep_every = sweep_every
        self._swept: float | None = None
        self._stopping: dict[str, list[Any]] = {}
        self._wake = wake
        # Chats waiting for a free actor slot, oldest first, with what they were sent.
        self._waiting: dict[str, list[Any]] = {}

    def on_receive(self, message: Any) -> None:
        """Handle one message; a failure is logged and never kills the supervisor."""
        try:
            match message:
                case Deliver():
                    self._deliver(message)
                case Presence(chat):
                    # Typing matters only to a chat with a burst waiting, so it never
                    # starts an actor; before boot, or while stopping, it is not needed.
                    if chat in self._actors and chat not in self._stopping:
                        self._actors[chat].tell(message)
                case Tick(now):
                    self._tick(now)
                case ChatStatus(chat):
                    self._arm(chat, message.deadline)
                    before = self._board.status(chat)
                    self._board.update(message)
                    # A change of state is activity; a repeated report is not.
                    if chat in self._actors and self._board.status(chat) != before:
                        self._last_active[chat] = self._deps.clock.now()
                case Passivated(chat, state):
                    self._passivated(chat, state)
                case StillBusy(chat):
                    self._release(chat, self._actors[chat])
                case Boot(states):
                    self._boot(states)
        except Exception:
            log.exception("supervisor: handling %s failed", type(message).__name__)

    def on_stop(self) -> None:
        """Stop every chat actor, letting each finish the message it is handling."""
        for ref in self._actors.values():
            ref.stop(block=False)
        for ref in self._actors.values():
            ref.actor_stopped.wait(timeout=30)

    def _boot(self, states: dict[str, ChatState]) -> None:
        self._states = states
        early, self._early = self._early or [], None
        for chat in [chat for chat, state in states.items() if state.has_work]:
            self._tell(chat, None)
        for message in early:
            self._deliver(message)
        self._board.chats_known = len(self._states) + len(self._actors)

    def _deliver(self, message: Deliver) -> None:
        if self._early is not None:
            self._early.append(message)
            return
        by_chat: dict[str, list[Event]] = defaultdict(list)
        for event in message.events:
            by_chat[event.chat].append(event)
        for chat, events in by_chat.items():
            status = self._board.status(chat)
            if status is not None and status.turn_since is not None:
                # The seed raced a second run here; the mailbox makes these wait instead.
                self._metrics.race_errors.inc(sum(isinstance(e, MessageReceived) for e in events))
            self._tell(chat, Deliver(tuple(events)))

    def _tell(self, chat: str, message: Any) -> None:
        """Send ``message`` to the chat's actor, starting one if a slot is free.

        A chat whose actor is stopping, or that finds every slot taken, has the message
        held and handed over when it gets an actor. ``None`` only starts the actor.
        """
        held = [] if message is None else [message]
        if chat in self._stopping:
            self._stopping[chat] += held
        elif chat in self._actors:
            for m in held:
                self._actors[chat].tell(m)
        elif chat in self._waiting or len(self._actors) >= self._max_live:
            self._waiting.setdefault(chat, []).extend(held)
            self._passivate_idle(self._deps.clock.now())
        else:
            ref = self._actor_for(chat)
            for m in held:
                ref.tell(m)

    def _actor_for(self, chat: str) -> pykka.ActorRef[Any]:
        ref = self._actors.get(chat)
        if ref is None:
            state = self._states.pop(chat, None) or ChatState(chat)
            ref = ChatActor.start(state, self._deps, self._policy, self.actor_ref)
            self._actors[chat] = ref
            self._last_active[chat] = self._deps.clock.now()
            self._count_live()
        return ref

    def _count_live(self) -> None:
        self._board.live_actors = len(self._actors)
        self._metrics.chat_actors.set(len(self._actors))

    def _passivate_idle(self, now: float) -> None:
        busy = self._board.busy()
        idle = sorted(
            (at, chat)
            for chat, at in self._last_active.items()
            if chat not in self._stopping and chat not in self._deadlines and chat not in busy
        )
        excess = max(
            0, len(self._actors) - len(self._stopping) - self._max_live + len(self._waiting)
        )
        for n, (at, chat) in enumerate(idle):
            if n >= excess and now - at < self._idle_after:
                break
            self._stopping[chat] = []
            self._actors[chat].tell(Passivate())

    def _sweep(self) -> None:
        """Delete media past retention; ask chats over the token threshold to compact."""
        if self._deps.media is not None:
            try:
                self._deps.media.store.sweep(self._deps.clock.now())
            except OSError as exc:
                log.warning("media retention sweep failed: %s", exc)
        threshold = self._deps.token_threshold
        if not threshold:
            return
        over = [c for c, s in self._states.items() if s.last_input_tokens > threshold]
        for chat in [*self._actors, *over]:
            if chat not in self._stopping:
                self._tell(chat, Compact())

    def _passivated(self, chat: str, state: ChatState) -> None:
        del self._actors[chat]
        self._last_active.pop(chat, None)
        self._states[chat] = state
        self._metrics.chat_passivations.inc()
        self._count_live()
        if self._stopping.get(chat):
            self._release(chat, self._actor_for(chat))
        else:
            self._stopping.pop(chat, None)
        self._admit()

    def _admit(self) -> None:
        """Give free actor slots to the chats waiting longest, with what they were sent."""
        while self._waiting and len(self._actors) < self._max_live:
            chat = next(iter(self._waiting))
            held = self._waiting.pop(chat)
            ref = self._actor_for(chat)
            for message in held:
                ref.tell(message)

    def _release(self, chat: str, ref: pykka.ActorRef[Any]) -> None:
        """Hand what was held while ``chat`` was stopping to its actor."""
        for message in self._stopping.pop(chat, []):
            ref.tell(message)

    def _arm(self, chat: str, at: float | None) -> None:
        if at is None:
            self._deadlines.pop(chat, None)
        else:
            self._deadlines[chat] = at
            if self._wake is not None:
                self._wake(at)

    def _tick(self, now: float) -> None:
        due = [chat for chat, at in self._deadlines.items() if at <= now]
        for chat in due:
            del self._deadlines[chat]
            try:
                self._actors[chat].tell(Tick(now))
            except pykka.ActorDeadError:
                # It stopped with nothing to do (its Passivated is on its way); the other
                # chats' deadlines must not wait for that.
                log.debug("supervisor: deadline of a stopped chat actor dropped")
        if self._swept is None:
            self._swept = now
        elif now - self._swept >= self._sweep_every:
            self._swept = now
            self._sweep()
        # After the sweep: a chat told to compact does so before it is asked to stop.
        self._passivate_idle(now)
        if now - self._mailboxes_sampled >= MAILBOX_SAMPLE_SECONDS:
            self._mailboxes_sampled = now
            self._metrics.mailbox_messages.set(sum(map(_mailbox_depth, self._actors.values())))


def _mailbox_depth(ref: pykka.ActorRef[Any]) -> int:
    """Return how many messages wait in an actor's mailbox."""
    inbox = ref.actor_inbox
    # A ThreadingActor's inbox is a queue.Queue; pykka's ActorInbox protocol has no qsize.
    return inbox.qsize() if isinstance(inbox, queue.Queue) else 0
