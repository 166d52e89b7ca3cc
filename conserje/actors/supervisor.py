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

A chat actor that failed unexpectedly, or that an operator cleared (:class:`ClearAll`),
stops and says so (:class:`Stopped`); the supervisor rebuilds that chat from the
journal, after a backoff when it failed, and starts a new incarnation with what was
held meanwhile (minus what the journal already gave it).
"""

from __future__ import annotations

import logging
import queue
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

import pykka

from conserje.actors.board import Board
from conserje.actors.buffer import BufferPolicy
from conserje.actors.chat import ChatActor
from conserje.actors.mailbox import MailboxActor
from conserje.actors.messages import (
    Boot,
    ChatStatus,
    ClearAll,
    Compact,
    Deliver,
    Passivate,
    Passivated,
    Presence,
    Restart,
    StillBusy,
    Stopped,
    Tick,
)
from conserje.actors.turn import TurnDeps
from conserje.errors import SnapshotDamaged
from conserje.eventlog.events import Event, MessageReceived
from conserje.eventlog.projection import ChatState
from conserje.eventlog.states import ChatStates
from conserje.logs import mask
from conserje.metrics import MAILBOX_SAMPLE_SECONDS, Metrics

__all__ = ["RESTART_BACKOFF", "RESTART_BACKOFF_MAX", "Rebuild", "Supervisor"]

log = logging.getLogger(__name__)

RESTART_BACKOFF = 0.5
"""Seconds before a failed chat actor's first restart; each further failure doubles it."""

RESTART_BACKOFF_MAX = 30.0
"""The longest wait before a restart; a chat quiet for twice this starts again at the first."""

Rebuild = Callable[[Collection[str]], tuple[dict[str, ChatState], int]]
"""Rebuilds chats from the journal: their states, and the seq of the last event read."""


class Supervisor(MailboxActor):
    """Routes journaled events to chat actors and drives their deadlines.

    Its thread, and its chat actors', do not hold the process up at exit: what they
    leave unfinished when the server stops is resumed from the journal at boot.

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
        rebuild: how a restarted chat is rebuilt from the journal
            (:func:`conserje.eventlog.restore.rebuild_chats` on the journal's directory).
        stop_within: seconds the chat actors get to finish their messages when the
            supervisor stops.
    """

    use_daemon_thread = True

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
        rebuild: Rebuild,
        stop_within: float = 30.0,
    ) -> None:
        super().__init__()
        self._deps = deps
        self._policy = policy
        self._board = board
        self._metrics = metrics or Metrics()
        self._mailboxes_sampled = float("-inf")
        # Passivated chats' states; those restored from a snapshot are decoded on start.
        self._states = ChatStates()
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
        self._rebuild = rebuild
        self._stop_within = stop_within
        self._restarts: dict[str, float] = {}
        self._failures: dict[str, tuple[int, float]] = {}
        # Guest messages told to a chat busy with a turn wait in its mailbox, unseen by
        # it until the turn ends: counted here (with that turn's start) for the views.
        self._queued: dict[str, tuple[float, int]] = {}
        self._reported: dict[str, ChatStatus] = {}
        # Chats waiting for a free actor slot, oldest first, with what they were sent.
        self._waiting: dict[str, list[Any]] = {}
        # After a restart, the last seq its rebuild read: a Deliver of older events that
        # comes later is already in the new incarnation's state and must not apply twice.
        self._floors: dict[str, int] = {}

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
                    self._show(message)
                    # A change of state is activity; a repeated report is not.
                    if chat in self._actors and self._board.status(chat) != before:
                        self._last_active[chat] = self._deps.clock.now()
                case Passivated() | StillBusy() | Stopped():
                    self._stopping_actor(message)
                case Boot(states):
                    self._boot(states)
                case ClearAll():
                    self._clear_all()
        except Exception:
            self._metrics.unexpected_errors.labels("supervisor").inc()
            log.exception("supervisor: handling %s failed", type(message).__name__)

    def _show(self, status: ChatStatus) -> None:
        """Publish a chat's status, with the messages waiting in its mailbox counted."""
        chat = status.chat
        queued = self._queued.get(chat)
        if queued is not None and queued[0] != status.turn_since:
            del self._queued[chat]
            queued = None
        if status.turn_since is None:
            self._reported.pop(chat, None)
        else:
            self._reported[chat] = status
        if queued is not None:
            status = replace(status, waiting=status.waiting + queued[1])
        self._board.update(status, self._deps.clock.now())

    def _stopping_actor(self, message: Passivated | StillBusy | Stopped) -> None:
        """Follow a chat actor asked to stop: it stopped, declined, or stopped to restart."""
        match message:
            case Passivated(chat, state):
                self._passivated(chat, state)
            case StillBusy(chat):
                self._release(chat, self._actors[chat])
            case Stopped():
                self._stopped(message)

    def on_stop(self) -> None:
        """Stop every chat actor, letting each finish its message within ``stop_within``."""
        for ref in self._actors.values():
            ref.stop(block=False)
        deadline = time.monotonic() + self._stop_within
        busy = [
            ref
            for ref in self._actors.values()
            if not ref.actor_stopped.wait(timeout=max(0.0, deadline - time.monotonic()))
        ]
        if busy:
            log.warning(
                "%d chat actor(s) did not stop within %.1f s; boot will resume their work",
                len(busy),
                self._stop_within,
            )

    def _boot(self, states: ChatStates) -> None:
        self._states = states
        early, self._early = self._early or [], None
        for chat in states.with_work():
            self._hand_over(chat, None)
        for message in early:
            self._deliver(message)
        self._board.chats_known = len(self._states) + len(self._actors)

    def _deliver(self, message: Deliver) -> None:
        if self._early is not None:
            self._early.append(message)
            return
        by_chat: dict[str, list[Event]] = defaultdict(list)
        for event in message.events:
            if event.seq > self._floors.get(event.chat, 0):
                by_chat[event.chat].append(event)
        for chat, events in by_chat.items():
            status = self._board.status(chat)
            if status is not None and status.turn_since is not None:
                # The seed raced a second run here; the mailbox makes these wait instead.
                arrived = sum(isinstance(e, MessageReceived) for e in events)
                self._metrics.race_errors.inc(arrived)
                since, queued = self._queued.get(chat, (status.turn_since, 0))
                if since != status.turn_since:
                    queued = 0
                self._queued[chat] = (status.turn_since, queued + arrived)
                self._show(self._reported.get(chat, status))
            self._hand_over(chat, Deliver(tuple(events)))

    def _hand_over(self, chat: str, message: Any) -> None:
        """:meth:`_tell`, with a failure kept to its own chat."""
        try:
            self._tell(chat, message)
        except Exception:
            # One chat's trouble must not drop the other chats' messages; this chat's
            # are in the journal, which its next incarnation reads.
            self._metrics.unexpected_errors.labels("supervisor").inc()
            what = type(message).__name__ if message is not None else "a start"
            log.exception("supervisor: chat %s: %s not handed over", mask(chat), what)

    def _tell(self, chat: str, message: Any) -> None:
        """Send ``message`` to the chat's actor, starting one if a slot is free.

        A chat whose actor is stopping, or that finds every slot taken, has the message
        held and handed over when it gets an actor. ``None`` only starts the actor.
        """
        held = [] if message is None else [message]
        if chat in self._stopping:
            self._stopping[chat] += held
        elif chat in self._actors:
            try:
                for m in held:
                    self._actors[chat].tell(m)
            except pykka.ActorDeadError:
                # It stopped to restart and has not said so yet: its Stopped is coming.
                self._stopping[chat] = held
        elif self._waiting or self._live() >= self._max_live:
            # First come, first served: a newcomer queues behind the chats already waiting.
            self._waiting.setdefault(chat, []).extend(held)
            self._passivate_idle(self._deps.clock.now())
        else:
            self._start(chat, held)

    def _start(self, chat: str, held: list[Any]) -> None:
        """Start the chat's actor and hand it ``held``.

        A state restored from a snapshot that cannot be decoded is rebuilt from the
        journal instead, as a restarted chat is, with ``held`` handed over after.
        """
        try:
            ref = self._actor_for(chat)
        except SnapshotDamaged as exc:
            del self._states[chat]
            self._metrics.unexpected_errors.labels("supervisor").inc()
            log.error("chat %s: %s; rebuilding it from the journal", mask(chat), exc.reason)
            self._stopping[chat] = held
            self._restarts[chat] = self._deps.clock.now()
            return
        for message in held:
            ref.tell(message)

    def _actor_for(self, chat: str) -> pykka.ActorRef[Any]:
        ref = self._actors.get(chat)
        if ref is None:
            state = self._states.pop(chat, None) or ChatState(chat)
            ref = ChatActor.start(state, self._deps, self._policy, self.actor_ref)
            self._actors[chat] = ref
            self._last_active[chat] = self._deps.clock.now()
            self._count_live()
        return ref

    def _live(self) -> int:
        """Count the actor slots taken: live actors and those waiting out a restart."""
        return len(self._actors) + len(self._restarts)

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
        # Actors already stopping free their slots soon; chats restarting keep theirs.
        leaving = len(self._stopping.keys() & self._actors.keys())
        excess = max(0, self._live() - leaving - self._max_live + len(self._waiting))
        for n, (at, chat) in enumerate(idle):
            if n >= excess and now - at < self._idle_after:
                break
            self._stopping[chat] = []
            try:
                self._actors[chat].tell(Passivate())
            except pykka.ActorDeadError:
                # It stopped to restart and its Stopped is on the way; that restarts it.
                log.debug("supervisor: an idle chat actor had already stopped")

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
        over = [c for c, tokens in self._states.input_tokens() if tokens > threshold]
        for chat in [*self._actors, *over]:
            if chat not in self._stopping:
                self._tell(chat, Compact())

    def _passivated(self, chat: str, state: ChatState) -> None:
        del self._actors[chat]
        self._last_active.pop(chat, None)
        self._failures.pop(chat, None)
        # Long idle by now: no Deliver from before its last restart is still on the way.
        self._floors.pop(chat, None)
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
        while self._waiting and self._live() < self._max_live:
            chat = next(iter(self._waiting))
            self._start(chat, self._waiting.pop(chat))

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

    def _clear_all(self) -> None:
        """Ask every live chat actor to stop after its current message and restart."""
        cleared = [chat for chat in self._actors if chat not in self._stopping]
        for chat in cleared:
            self._stopping[chat] = []
            self._actors[chat].tell(Restart())
        log.info("restarting %d chat actor(s) from the journal", len(cleared))

    def _stopped(self, message: Stopped) -> None:
        """A chat actor stopped to restart: hold its chat's messages and schedule it."""
        chat = message.chat
        self._actors.pop(chat, None)
        self._last_active.pop(chat, None)
        self._deadlines.pop(chat, None)
        self._count_live()
        self._stopping.setdefault(chat, [])
        self._metrics.chat_actor_restarts.labels(message.reason).inc()
        now = self._deps.clock.now()
        delay = 0.0
        if message.reason == "failure":
            self._metrics.unexpected_errors.labels("chat_actor").inc()
            delay = self._backoff(chat, now)
            log.warning(
                "chat %s: actor failed (%s); restarting from the journal in %.1f s",
                mask(chat),
                message.error,
                delay,
            )
        self._restarts[chat] = now + delay

    def _backoff(self, chat: str, now: float) -> float:
        count, last = self._failures.get(chat, (0, now))
        if now - last > 2 * RESTART_BACKOFF_MAX:
            count = 0
        self._failures[chat] = (count + 1, now)
        return min(RESTART_BACKOFF * 2**count, RESTART_BACKOFF_MAX)

    def _restart(self, chats: list[str], now: float) -> None:
        """Start new incarnations of ``chats`` from the journal, with what was held."""
        try:
            states, last_seq = self._rebuild(chats)
        except Exception:
            self._metrics.unexpected_errors.labels("supervisor").inc()
            log.exception("chats not rebuilt from the journal; trying again later")
            for chat in chats:
                self._restarts[chat] = now + RESTART_BACKOFF_MAX
            return
        for chat in chats:
            del self._restarts[chat]
            self._floors[chat] = last_seq
            # The new incarnation knows every message: the journal's and what was held.
            self._queued.pop(chat, None)
            self._states[chat] = states.get(chat) or ChatState(chat)
            ref = self._actor_for(chat)
            for held in self._stopping.pop(chat, []):
                if isinstance(held, Deliver):
                    # What the journal already gave the new state must not apply twice.
                    fresh = tuple(e for e in held.events if e.seq > last_seq)
                    if fresh:
                        ref.tell(Deliver(fresh))
                else:
                    ref.tell(held)

    def _tick(self, now: float) -> None:
        due = [chat for chat, at in self._deadlines.items() if at <= now]
        for chat in due:
            del self._deadlines[chat]
            if chat in self._stopping:
                continue
            try:
                self._actors[chat].tell(Tick(now))
            except pykka.ActorDeadError:
                # It stopped (its Passivated or Stopped is on its way); the other chats'
                # deadlines must not wait for that.
                log.debug("supervisor: deadline of a stopped chat actor dropped")
        restarts = [chat for chat, at in self._restarts.items() if at <= now]
        if restarts:
            self._restart(restarts, now)
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
    # A MailboxActor's inbox is a SimpleQueue; pykka's ActorInbox protocol has no qsize.
    return inbox.qsize() if isinstance(inbox, queue.SimpleQueue) else 0
