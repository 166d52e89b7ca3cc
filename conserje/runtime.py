"""The running server's parts, wired together, and its boot sequence.

Boot order is the reference bot's first lesson: the HTTP server binds and answers
``/health`` before anything slow happens. :meth:`Runtime.boot` then replays the journal
into chat projections, opens it for appends (webhooks waiting for that are released),
hands the projections to the supervisor, which resumes unfinished turns, and starts the
ticker.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

import openai
import pykka

from conserje.actors.board import Board
from conserje.actors.buffer import BufferPolicy
from conserje.actors.clock import Clock, SystemClock
from conserje.actors.messages import Boot, ClearAll, Deliver, Presence
from conserje.actors.supervisor import Supervisor
from conserje.actors.ticker import Ticker
from conserje.actors.toolstep import ESCALATE
from conserje.actors.turn import TurnDeps
from conserje.assistant.responses import ResponsesModel
from conserje.assistant.tools import ToolRegistry
from conserje.assistant.validation import load_validators
from conserje.config import Settings
from conserje.errors import JournalCorrupt, JournalError, JournalUnavailable
from conserje.eventlog.events import Event
from conserje.eventlog.jsonl import JsonlJournal
from conserje.eventlog.restore import rebuild_chats, restore
from conserje.eventlog.seen import SeenIds
from conserje.eventlog.snapshot import write_snapshot
from conserje.eventlog.snapshotter import Snapshotter
from conserje.eventlog.states import ChatStates
from conserje.feed import LiveFeed
from conserje.live_stats import LiveStats
from conserje.media.ingest import MediaIngest
from conserje.media.speech import VoiceReplies
from conserje.media.store import MediaStore
from conserje.metrics import Metrics
from conserje.metrics_projector import MetricsProjector
from conserje.recent_logs import RecentLogs
from conserje.whapi.client import WhapiClient

__all__ = ["Runtime"]

log = logging.getLogger(__name__)

JOURNAL_OPEN_WAIT = 10.0
"""Seconds a webhook waits for boot to open the journal before answering 503."""

SUPERVISOR_STOP_SLACK = 0.5
"""Seconds the supervisor gets past the budget to report on the chat actors it waited for."""

JOURNAL_CLOSE_FLOOR = 1.0
"""Seconds the journal always gets to write what is queued when the server stops."""


class Runtime:
    """Everything the server runs, and its lifecycle.

    Args:
        settings: validated settings.
        clock: the time source (a manual clock in tests).
        on_fatal: called when the journal fails; the server then exits non-zero.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        on_fatal: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.phase = "starting"
        self.started_at = time.time()
        self.failure: str | None = None
        self._on_fatal = on_fatal
        # Tools load first: their names are the only tool labels the metrics accept.
        self.tools = ToolRegistry()
        for problem in self.tools.load_entry_points():
            log.error("tool plugin not loaded: %s", problem)
        self.metrics = Metrics()
        self._projector = MetricsProjector(
            self.metrics,
            token_threshold=settings.thread_token_threshold,
            tool_names=[ESCALATE.name, *self.tools.names()],
        )
        # The dashboard's: the journal's latest events, and the latest warnings and errors.
        self.feed = LiveFeed()
        self.recent_logs = RecentLogs()
        self.snapshotter = Snapshotter(settings.journal_dir, settings.snapshot_dir)
        self.journal = JsonlJournal(
            settings.journal_dir,
            fsync=settings.journal_fsync,
            segment_bytes=settings.journal_segment_bytes,
            clock=self.clock.now,
            on_fatal=self._journal_failed,
            on_rotate=self.snapshotter.request,
            on_append=[self._projector.observe, self.feed.observe],
        )
        self.metrics.journal_seq.set_function(lambda: self.journal.last_seq)
        self.journal_open = threading.Event()
        self.seen = SeenIds()
        self.board = Board()
        self.live_stats = LiveStats(self.metrics, self.board)
        self.whapi = WhapiClient(
            settings.whapi_api_url,
            settings.whapi_token,
            timeout=settings.whapi_timeout_ms / 1000,
            on_error=lambda kind: self.metrics.whapi_errors.labels(kind).inc(),
        )
        client = openai.OpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=settings.openai_request_timeout_ms / 1000,
            _strict_response_validation=settings.openai_strict_validation,
        )
        model = ResponsesModel(
            client,
            model=settings.openai_model,
            instructions=settings.instructions,
            background=settings.openai_background,
            clock=self.clock,
            run_timeout=settings.openai_run_timeout_ms / 1000,
            max_concurrency=settings.openai_max_concurrency,
        )
        self.media_store = MediaStore(
            settings.media_dir, settings.audio_dir, settings.media_retention_days
        )
        media = MediaIngest(
            self.whapi,
            client,
            self.media_store,
            transcribe_model=settings.openai_transcribe_model,
            timeout=settings.media_timeout_ms / 1000,
            max_bytes=settings.media_max_bytes,
            image_max_bytes=settings.media_image_max_bytes,
            file_input=settings.openai_file_input,
        )
        validators, problems = load_validators()
        for problem in problems:
            log.error("reply validator not loaded: %s", problem)
        deps = TurnDeps(
            self.journal,
            model,
            self.whapi,
            self.clock,
            settings.timezone,
            tools=self.tools,
            staff_chat=settings.staff_chat_id,
            handoff_pause=settings.human_handoff_pause_ms / 1000,
            fallback_message=settings.fallback_message,
            interim_after=settings.tool_interim_after_ms / 1000,
            orphan_policy=settings.orphan_run_policy,
            token_threshold=settings.thread_token_threshold,
            summary_tokens=settings.historial_summary_threshold,
            compaction_method=settings.compaction_method,
            validators=validators,
            media=media,
            voice=VoiceReplies(
                client,
                self.media_store,
                model=settings.openai_tts_model,
                voice=settings.openai_tts_voice,
                timeout=settings.media_timeout_ms / 1000,
            )
            if settings.voice_replies
            else None,
            whapi_timeout=settings.whapi_timeout_ms / 1000,
        )
        policy = BufferPolicy(
            window=settings.buffer_window_ms / 1000,
            max_wait=settings.buffer_max_wait_ms / 1000,
            max_messages=settings.buffer_max_messages,
            typing_hold=settings.typing_extended_ms / 1000,
        )
        self.supervisor: pykka.ActorRef[Supervisor] = Supervisor.start(
            deps,
            policy,
            self.board,
            self.metrics,
            idle_after=settings.actor_idle_ms / 1000,
            max_live=settings.actor_max_live,
            sweep_every=settings.cleanup_interval / 1000,
            wake=self._wake_ticker,
            rebuild=functools.partial(rebuild_chats, settings.journal_dir),
            stop_within=settings.shutdown_timeout_ms / 1000,
        )
        self.ticker = Ticker(self.supervisor, self.clock)

    def boot(self) -> None:
        """Restore state from snapshot and journal, open it, and start the actors.

        This is the boot thread's body; ``/health`` answers all along.
        """
        self.phase = "replaying"
        try:
            restored = restore(self.journal, self.settings.snapshot_dir, self.seen)
            self._projector.restored(restored.states.input_tokens())
            if restored.replayed >= self.settings.journal_snapshot_events:
                self._snapshot(restored.states)
            self.feed.start_at(self.journal.last_seq)
            self.journal.start()
            self.snapshotter.start()
        except JournalCorrupt as exc:
            self._fail(
                f"journal cannot be opened: {exc}. Nothing was changed. Inspect it with "
                f"`conserje log verify --data-dir {self.settings.data_dir}`; then restore the "
                "data dir from a backup, or move the damaged segment (and those after it) "
                "aside to start from the events before the damage"
            )
            return
        except (JournalError, OSError) as exc:
            self._fail(f"journal cannot be opened: {exc}")
            return
        self.journal_open.set()
        states = restored.states
        log.info(
            "journal restored: seq %d, %d chats (%d with unfinished work), %d events replayed%s",
            self.journal.last_seq,
            len(states),
            len(states.with_work()),
            restored.replayed,
            f" after snapshot {restored.snapshot.name}" if restored.snapshot else "",
        )
        self.supervisor.tell(Boot(states))
        self.ticker.start()
        self.phase = "ready"

    def _wake_ticker(self, at: float) -> None:
        """Have the ticker tick at a chat's deadline (boot creates the ticker before any)."""
        self.ticker.wake_at(at)

    def _snapshot(self, states: ChatStates) -> None:
        started = time.monotonic()
        path = write_snapshot(
            self.settings.snapshot_dir, self.journal.position(), states, self.seen.recent()
        )
        log.info("snapshot %s written in %.2f s", path.name, time.monotonic() - started)

    def accept(self, events: Sequence[Event]) -> list[Event]:
        """Journal events from a webhook and pass them to the supervisor once durable.

        Raises:
            JournalUnavailable: the journal is not open (within a bounded wait) or
                cannot write; the webhook must answer 503 so Whapi retries.
        """
        if self.phase == "stopping":
            raise JournalUnavailable("the server is stopping")
        if not self.journal_open.wait(JOURNAL_OPEN_WAIT):
            raise JournalUnavailable("the journal is still being replayed")
        written = self.journal.append(events)
        self.supervisor.tell(Deliver(tuple(written)))
        return written

    def presence(self, chat: str, status: str, at: float) -> None:
        """Pass a guest's typing state to the supervisor (not journaled unless it matters)."""
        self.supervisor.tell(Presence(chat, status, at))

    def clear_chat_actors(self) -> None:
        """Restart every live chat actor from the journal, each after its current message."""
        self.supervisor.tell(ClearAll())

    def shutdown(self, timeout: float | None = None) -> None:
        """Refuse webhooks, stop the ticker and actors, then flush and close the journal.

        Args:
            timeout: seconds for all of it (default ``SHUTDOWN_TIMEOUT_MS``). Chat
                actors still busy then are left to the process's exit; boot resumes
                their work from the journal.
        """
        budget = self.settings.shutdown_timeout_ms / 1000 if timeout is None else timeout
        deadline = time.monotonic() + budget

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        self.phase = "stopping"
        self.ticker.stop()
        try:
            # The supervisor gives its chat actors the budget and says which did not stop.
            self.supervisor.stop(timeout=left() + SUPERVISOR_STOP_SLACK)
        except pykka.Timeout:
            log.warning("the supervisor did not stop within %.1f s", budget)
        self.snapshotter.stop(timeout=left())
        # What is queued is written even past the budget: it is a few lines, and appends
        # already queued may have been promised to a caller.
        self.journal.close(timeout=max(left(), JOURNAL_CLOSE_FLOOR))
        self.whapi.close()
        self.tools.close()

    def _journal_failed(self, exc: BaseException) -> None:
        self._fail(f"journal write failed: {exc}")

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self.phase = "failed"
        log.critical("%s; refusing webhooks and stopping", reason)
        if self._on_fatal is not None:
            self._on_fatal()
