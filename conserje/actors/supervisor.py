"""The supervisor: the only holder of chat actor references.

HTTP threads ``tell`` it what the webhook journaled; it routes each chat's events to that
chat's actor, creating the actor on the chat's first message from the chat's projection.
Before boot has replayed the journal it holds what arrives and hands it over after, so a
webhook accepted during replay is processed once replay is done. It also turns the
ticker's heartbeat into per-chat deadlines, so no chat needs a timer thread of its own,
and counts what only it sees: live actors, their mailboxes, and guest messages that
arrive while their chat's turn is in flight.
"""

from __future__ import annotations

import logging
import queue
from collections import defaultdict
from typing import Any

import pykka

from conserje.actors.board import Board
from conserje.actors.buffer import BufferPolicy
from conserje.actors.chat import ChatActor
from conserje.actors.messages import Arm, Boot, ChatStatus, Deliver, Presence, Tick
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
    """

    def __init__(
        self,
        deps: TurnDeps,
        policy: BufferPolicy,
        board: Board,
        metrics: Metrics | None = None,
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

    def on_receive(self, message: Any) -> None:
        """Handle one message; a failure is logged and never kills the supervisor."""
        try:
            match message:
                case Deliver():
                    self._deliver(message)
                case Presence(chat):
                    # Typing matters only to a chat with a burst waiting, so it never
                    # starts an actor; before boot it is simply not needed.
                    if chat in self._actors:
                        self._actors[chat].tell(message)
                case Tick(now):
                    self._tick(now)
                case Arm(chat, at):
                    self._arm(chat, at)
                case ChatStatus():
                    self._board.update(message)
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
            self._actor_for(chat)
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
        busy = self._board.busy()
        for chat, events in by_chat.items():
            status = busy.get(chat)
            if status is not None and status.turn_since is not None:
                # The seed raced a second run here; the mailbox makes these wait instead.
                self._metrics.race_errors.inc(sum(isinstance(e, MessageReceived) for e in events))
            self._actor_for(chat).tell(Deliver(tuple(events)))

    def _actor_for(self, chat: str) -> pykka.ActorRef[Any]:
        ref = self._actors.get(chat)
        if ref is None:
            state = self._states.pop(chat, None) or ChatState(chat)
            ref = ChatActor.start(state, self._deps, self._policy, self.actor_ref)
            self._actors[chat] = ref
            self._board.live_actors = len(self._actors)
            self._metrics.chat_actors.set(len(self._actors))
        return ref

    def _arm(self, chat: str, at: float | None) -> None:
        if at is None:
            self._deadlines.pop(chat, None)
        else:
            self._deadlines[chat] = at

    def _tick(self, now: float) -> None:
        due = [chat for chat, at in self._deadlines.items() if at <= now]
        for chat in due:
            del self._deadlines[chat]
            self._actors[chat].tell(Tick(now))
        if now - self._mailboxes_sampled >= MAILBOX_SAMPLE_SECONDS:
            self._mailboxes_sampled = now
            self._metrics.mailbox_messages.set(sum(map(_mailbox_depth, self._actors.values())))


def _mailbox_depth(ref: pykka.ActorRef[Any]) -> int:
    """Return how many messages wait in an actor's mailbox."""
    inbox = ref.actor_inbox
    # A ThreadingActor's inbox is a queue.Queue; pykka's ActorInbox protocol has no qsize.
    return inbox.qsize() if isinstance(inbox, queue.Queue) else 0
