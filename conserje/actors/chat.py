"""The chat actor: everything about one chat happens here, one message at a time.

Its mailbox is the lock the reference bot never had: a turn runs inside the actor, so a
second turn for the same chat cannot start until the first has ended. Guest messages
that arrive meanwhile wait in the mailbox and are answered by the next turn.
"""

from __future__ import annotations

import logging
from typing import Any

import pykka

from conserje.actors.buffer import Buffer, BufferPolicy
from conserje.actors.messages import (
    ChatStatus,
    Compact,
    Deliver,
    Passivate,
    Passivated,
    Presence,
    Resume,
    StillBusy,
    Tick,
)
from conserje.actors.turn import TurnDeps, TurnRunner
from conserje.eventlog.events import MessageReceived
from conserje.eventlog.projection import ChatState
from conserje.logs import mask

__all__ = ["ChatActor"]

log = logging.getLogger(__name__)


class ChatActor(pykka.ThreadingActor):
    """Owns one chat's :class:`ChatState`, buffers its messages and runs its turns.

    Args:
        state: the chat's projection, rebuilt from the journal.
        deps: the journal, model, Whapi client and clock.
        policy: when a burst of messages becomes a turn.
        supervisor: where deadlines and status changes are reported.
    """

    def __init__(
        self,
        state: ChatState,
        deps: TurnDeps,
        policy: BufferPolicy,
        supervisor: pykka.ActorRef[Any],
    ) -> None:
        super().__init__()
        self.state = state
        self._deps = deps
        self._buffer = Buffer(policy)
        self._supervisor = supervisor
        self._turns = TurnRunner(deps, state, on_change=self._report)
        self._passivated = False

    def on_start(self) -> None:
        """Pick up work the journal says is unfinished."""
        if self.state.has_work:
            self.actor_ref.tell(Resume())

    def on_receive(self, message: Any) -> None:
        """Handle one message; a failure is logged and never kills the actor."""
        try:
            match message:
                case Deliver(events):
                    self._take(events)
                case Presence(_, status, at):
                    self._presence(status, at)
                case Tick(now):
                    if self._buffer.due(now):
                        self._turn()
                case Resume():
                    self._resume()
                case Passivate():
                    self._passivate()
                    return
                case Compact():
                    if self.state.turn is None:
                        self._turns.compact_if_over("sweep")
        except Exception:
            log.exception(
                "chat %s: handling %s failed", mask(self.state.chat), type(message).__name__
            )
        finally:
            self._report()

    def _take(self, events: tuple[Any, ...]) -> None:
        for event in events:
            self.state.apply(event)
            if isinstance(event, MessageReceived):
                self._buffer.add(event.message_id, event.ts)
        # Media is part of ingesting a message: a turn never starts without it.
        self._turns.ingest_media()
        if not self.state.presence_subscribed and self.state.pending:
            self._turns.subscribe_presence()
        if self._buffer.due(self._deps.clock.now()):
            self._turn()

    def _presence(self, status: str, at: float) -> None:
        if self._buffer.presence(status, at):
            deadline = self._buffer.deadline()
            self._turns.held(status, deadline if deadline is not None else at)

    def _resume(self) -> None:
        self._turns.advance()
        self._turns.ingest_media()
        # Messages that waited through a restart keep their arrival times, so a burst
        # that was already closed is answered at the first tick.
        for message in self.state.pending.values():
            self._buffer.add(message.message_id, message.ts)

    def _passivate(self) -> None:
        """Stop and hand the state back, unless there is work.

        The supervisor holds whatever arrives for this chat meanwhile, so nothing is
        ever sent to a stopped mailbox.
        """
        if self.state.has_work or self._buffer.deadline() is not None:
            self._supervisor.tell(StillBusy(self.state.chat))
            return
        self._passivated = True
        self._supervisor.tell(Passivated(self.state.chat, self.state))
        self.stop()

    def _turn(self) -> None:
        self._turns.start(self._buffer.take())

    def _report(self) -> None:
        if self._passivated:
            return
        turn = self.state.turn
        try:
            self._supervisor.tell(
                ChatStatus(
                    self.state.chat,
                    turn.started_at if turn else None,
                    len(self.state.pending),
                    self._buffer.deadline(),
                )
            )
        except pykka.ActorDeadError:
            log.debug("chat %s: supervisor stopped; status not reported", mask(self.state.chat))
