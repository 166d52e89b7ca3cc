"""The chat actor: everything about one chat happens here, one message at a time.

Its mailbox is the lock the reference bot never had: a turn runs inside the actor, so a
second turn for the same chat cannot start until the first has ended. Guest messages
that arrive meanwhile wait in the mailbox and are answered by the next turn.

A handler that fails unexpectedly is not trusted to have left the chat's memory
consistent: the failure is journaled and the actor stops so that the supervisor
restarts it from the journal, which retries the work. Work that fails a second time is
quarantined (journaled as set aside), so one poisonous message cannot stop a chat.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import pykka

from conserje.actors.buffer import Buffer, BufferPolicy
from conserje.actors.mailbox import MailboxActor
from conserje.actors.messages import (
    ChatStatus,
    Compact,
    Deliver,
    Passivate,
    Passivated,
    Presence,
    Restart,
    Resume,
    StillBusy,
    Stopped,
    Tick,
)
from conserje.actors.turn import TurnDeps, TurnRunner
from conserje.errors import JournalUnavailable
from conserje.eventlog.events import Event, HandlerFailed, MessageReceived, MessagesQuarantined
from conserje.eventlog.projection import ChatState
from conserje.logs import mask, turn_context

__all__ = ["FAILURES_BEFORE_QUARANTINE", "ChatActor"]

log = logging.getLogger(__name__)

FAILURES_BEFORE_QUARANTINE = 2
"""Unexpected failures of the same work (a turn, or a set of waiting messages) after
which it is set aside: the first is retried by a restart, the second is not."""


class ChatActor(MailboxActor):
    """Owns one chat's :class:`ChatState`, buffers its messages and runs its turns.

    Args:
        state: the chat's projection, rebuilt from the journal.
        deps: the journal, model, Whapi client and clock.
        policy: when a burst of messages becomes a turn.
        supervisor: where deadlines and status changes are reported.
    """

    # A turn still running when the server stops must not hold the process up: the
    # journal says where it was, and boot resumes it.
    use_daemon_thread = True

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
        self._retired: Stopped | None = None

    def on_start(self) -> None:
        """Pick up work the journal says is unfinished, and say how the chat stands."""
        if self.state.has_work:
            self.actor_ref.tell(Resume())
        # A restarted actor replaces whatever its predecessor last reported.
        try:
            self._report()
        except Exception as exc:
            # Raised from on_start, it would end the actor without a restart.
            self._failed("start", exc)

    def on_stop(self) -> None:
        """Tell the supervisor this actor stopped to be restarted, once its mailbox is done."""
        if self._retired is None:
            return
        try:
            self._supervisor.tell(self._retired)
        except pykka.ActorDeadError:
            log.debug("chat %s: supervisor stopped; restart not asked", mask(self.state.chat))

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Ask for a restart when an exception escaped the handlers (then no on_stop runs)."""
        error = f"{getattr(exception_type, '__name__', 'Exception')}: {exception_value}"
        stopped = self._retired or Stopped(self.state.chat, "failure", error)
        try:
            self._supervisor.tell(stopped)
        except pykka.ActorDeadError:
            log.debug("chat %s: supervisor stopped; restart not asked", mask(self.state.chat))

    def on_receive(self, message: Any) -> None:
        """Handle one message; a failure is journaled and restarts the actor, never kills it."""
        if self._retired is not None:
            # The next incarnation rebuilds what waits here from the journal.
            return
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
                case Restart():
                    self._retire(Stopped(self.state.chat, "cleared"))
        except Exception as exc:
            self._failed(type(message).__name__, exc)
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

    def _failed(self, handling: str, exc: Exception) -> None:
        """Journal an unexpected failure, quarantine work that failed before, and restart."""
        chat = self.state.chat
        error = f"{type(exc).__name__}: {exc}"
        turn = self.state.turn
        with turn_context(turn.turn_id if turn else ""):
            log.error(
                "chat %s: handling %s failed; restarting from the journal",
                mask(chat),
                handling,
                # A journal that refuses writes (failed, or closed as the server stops)
                # is reported where it happens; its traceback here says nothing more.
                exc_info=None if isinstance(exc, JournalUnavailable) else exc,
            )
        ids = [m.message_id for m in turn.messages] if turn else list(self.state.pending)
        work = turn.turn_id if turn else ",".join(ids)
        attempt = 1
        if work and work == self.state.failed_work:
            attempt = self.state.failed_attempts + 1
        events: list[Event] = [
            HandlerFailed(chat=chat, handling=handling, error=error, work=work, attempt=attempt)
        ]
        if work and attempt >= FAILURES_BEFORE_QUARANTINE:
            turn_id = turn.turn_id if turn else ""
            events.append(
                MessagesQuarantined(chat=chat, turn_id=turn_id, message_ids=ids, error=error)
            )
            log.error(
                "chat %s: %d message(s) quarantined after failing %d times",
                mask(chat),
                len(ids),
                attempt,
            )
        try:
            self._deps.journal.append(events)
        except Exception:
            # The restart still happens; the work is retried as the journal left it.
            log.exception("chat %s: the failure could not be journaled", mask(chat))
        self._retire(Stopped(chat, "failure", error))

    def _retire(self, stopped: Stopped) -> None:
        """Stop after the messages already queued (ignored) and ask to be restarted."""
        self._retired = stopped
        self.stop()

    def _turn(self) -> None:
        self._turns.start(self._buffer.take())

    def _report(self) -> None:
        if self._passivated or self._retired is not None:
            return
        turn = self.state.turn
        paused_until = self.state.paused_until
        if not self.state.paused(self._deps.clock.now()):
            paused_until = 0.0
        try:
            self._supervisor.tell(
                ChatStatus(
                    self.state.chat,
                    turn.started_at if turn else None,
                    len(self.state.pending),
                    deadline=self._buffer.deadline(),
                    paused_until=paused_until,
                )
            )
        except pykka.ActorDeadError:
            log.debug("chat %s: supervisor stopped; status not reported", mask(self.state.chat))
