"""The server's Prometheus metrics, in a registry of their own, served at ``GET /metrics``.

Most of them are derived from the journal (:mod:`conserje.metrics_projector`), so they
move exactly when the journal says something happened; the rest are counted where the
journal cannot see: webhook answers (the HTTP resource) and the actor world (the
supervisor). No metric has a per-chat label: labels take only small fixed sets of values.

Four names are the seed bot's and kept as it named them, so its dashboards and alerts
still find them: ``bot_fallbacks_total``, ``race_errors_total``, ``token_cleanups_total``
and ``high_token_threads``. Every other name starts with ``conserje_``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from conserje.whapi.client import MEDIA_DOWNLOAD

__all__ = [
    "ERROR_PLACES",
    "HIGH_TOKEN_CHATS_LIMIT",
    "MAILBOX_SAMPLE_SECONDS",
    "MEDIA_OUTCOMES",
    "MESSAGE_KINDS",
    "RECOVERY_OUTCOMES",
    "RESTART_REASONS",
    "TOKEN_DIRECTIONS",
    "TURN_OUTCOMES",
    "VOICE_REPLY_OUTCOMES",
    "WEBHOOK_OUTCOMES",
    "WHAPI_ERRORS",
    "Metrics",
]

MESSAGE_KINDS = ("guest_text", "guest_media", "agent")
"""Kinds of journaled message: a guest wrote or sent media, or the business phone wrote."""

MEDIA_OUTCOMES = ("ok", "failed", "timeout")
"""How fetching or transcribing a guest's media ended."""

VOICE_REPLY_OUTCOMES = ("sent", "withheld", "failed")
"""How a reply to a voice note went: spoken, or as text because it was withheld or failed."""

WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "ignored",
    "malformed",
    "unauthorized",
    "too_large",
    "unavailable",
)
"""How ``POST /hook`` answered a delivery (see :class:`conserje.http.webhook.HookResource`)."""

TURN_OUTCOMES = ("replied", "empty", "fallback", "failed", "paused")
"""How a turn ended (``turn_finished``'s outcome, with ``fallback`` for an apology)."""

RECOVERY_OUTCOMES = ("completed", "adopted", "cancelled", "failed", "gone", "rerun")
"""What boot did with a run a crash interrupted (``run_recovered``'s outcome)."""
WHAPI_ERRORS = (
    "connection",
    "timeout",
    "unauthorized",
    "rate_limited",
    "refused",
    "server",
    MEDIA_DOWNLOAD,
)
"""Why a call to Whapi failed (see :func:`conserje.whapi.client.error_kind`), or that it
was the download of a guest's media (:data:`conserje.whapi.client.MEDIA_DOWNLOAD`)."""

TOKEN_DIRECTIONS = ("input", "output", "cached")
"""Token counts a run reports; ``cached`` is the part of ``input`` served from cache."""

HIGH_TOKEN_CHATS_LIMIT = 10_000
"""Most chats ``high_token_threads`` remembers (and so counts): a bound on its memory."""

MAILBOX_SAMPLE_SECONDS = 1.0
"""How often the supervisor sums the chat actors' mailboxes (a cost per live actor)."""

RESTART_REASONS = ("failure", "cleared")
"""Why a chat actor was restarted: it failed unexpectedly, or an operator cleared it."""

ERROR_PLACES = ("chat_actor", "supervisor", "request", "thread")
"""Where an unexpected exception was caught (``thread``: any thread's uncaught one)."""

_MODEL_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
_TURN_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# A healthy fdatasync takes from tens of microseconds (NVMe) to tens of milliseconds.
_JOURNAL_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class Metrics:
    """Every metric the server exposes, registered in its own registry.

    A registry per instance (never the process-wide default) lets tests and several
    runtimes in one process count apart.

    Attributes:
        registry: the registry ``GET /metrics`` renders.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry

        # Messages and webhooks.
        self.messages_received = Counter(
            "conserje_messages_received_total",
            "Messages journaled from webhooks, by kind: guest_text (a guest wrote) or agent "
            "(a person wrote from the business phone). Duplicates are not counted.",
            ["kind"],
            registry=r,
        )
        self.webhooks = Counter(
            "conserje_webhooks_total",
            "Webhook deliveries by how they were answered: accepted (new messages journaled), "
            "duplicate, ignored (nothing to do), malformed (400), unauthorized (401), "
            "too_large (413), unavailable (503, journal not writable).",
            ["outcome"],
            registry=r,
        )
        self.race_errors = Counter(
            "race_errors_total",
            "Guest messages that arrived while their chat's turn was in flight; they wait "
            "for the next turn instead of racing it.",
            registry=r,
        )

        # Turns.
        self.turns = Counter(
            "conserje_turns_total",
            "Turns finished, by outcome (replied, empty, fallback, failed, paused).",
            ["outcome"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "conserje_turn_seconds",
            "Time from turn_started to turn_finished, by outcome (turns started before "
            "this process did are not observed).",
            ["outcome"],
            buckets=_TURN_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "bot_fallbacks_total",
            "Turns the model could not answer that got the FALLBACK_MESSAGE apology.",
            registry=r,
        )

        # The model.
        self.model_runs = Counter(
            "conserje_model_runs_total",
            "Model runs finished, by status (completed, failed, cancelled, incomplete, or "
            "error when no response could be had).",
            ["status"],
            registry=r,
        )
        self.model_run_seconds = Histogram(
            "conserje_model_run_seconds",
            "Time from run_started to run_finished of a model run.",
            buckets=_MODEL_BUCKETS,
            registry=r,
        )
        self.model_run_retries = Counter(
            "conserje_model_run_retries_total",
            "Run creations refused and tried again; ambiguous=true when the server may "
            "have started a run anyway.",
            ["ambiguous"],
            registry=r,
        )
        self.model_tokens = Counter(
            "conserje_model_tokens_total",
            "Tokens used by model runs, by direction: input, output, and cached (the part "
            "of input served from cache).",
            ["direction"],
            registry=r,
        )
        self.orphaned_runs_recovered = Counter(
            "conserje_orphaned_runs_recovered_total",
            "Runs a crash interrupted, dealt with at boot, by outcome (completed, adopted, "
            "cancelled, failed, gone, rerun).",
            ["outcome"],
            registry=r,
        )
        self.token_cleanups = Counter(
            "token_cleanups_total",
            "Chat histories compacted into a summary (over THREAD_TOKEN_THRESHOLD or after "
            "context_length_exceeded).",
            registry=r,
        )
        self.high_token_threads = Gauge(
            "high_token_threads",
            "Chats whose last run's input passed THREAD_TOKEN_THRESHOLD and whose history "
            f"was not compacted or reset since (counted up to {HIGH_TOKEN_CHATS_LIMIT}).",
            registry=r,
        )

        # Tools, replies, hand-offs.
        self.tool_calls = Counter(
            "conserje_tool_calls_total",
            "Tool calls finished, by tool (other: a name no registered tool has) and "
            "outcome (ok, or the error type).",
            ["tool", "outcome"],
            registry=r,
        )
        self.reply_chunks_sent = Counter(
            "conserje_reply_chunks_sent_total",
            "Reply chunks Whapi accepted (confirmed by its answer or, after a crash, by its "
            "list of sent messages).",
            registry=r,
        )
        self.reply_chunks_failed = Counter(
            "conserje_reply_chunks_failed_total",
            "Reply chunks whose send was attempted and not confirmed by the end of the turn.",
            registry=r,
        )
        self.whapi_errors = Counter(
            "conserje_whapi_errors_total",
            "Calls to Whapi that failed, by why: connection, timeout, unauthorized (401: "
            "the channel needs authorising), rate_limited (429), refused (other 4xx), "
            "server (5xx); media_download: a guest's media could not be downloaded.",
            ["error"],
            registry=r,
        )
        self.handoffs = Counter(
            "conserje_handoffs_total",
            "Hand-offs to a person, by who started them (assistant, agent, admin).",
            ["by"],
            registry=r,
        )

        # The journal.
        self.journal_append_seconds = Histogram(
            "conserje_journal_append_seconds",
            "Time to write one group commit of the journal, its fdatasync included.",
            buckets=_JOURNAL_BUCKETS,
            registry=r,
        )
        self.journal_fsync_seconds = Histogram(
            "conserje_journal_fsync_seconds",
            "Time of one fdatasync of the journal (one per group commit).",
            buckets=_JOURNAL_BUCKETS,
            registry=r,
        )
        self.journal_seq = Gauge(
            "conserje_journal_seq",
            "The seq of the last event in the journal (advances during replay at boot).",
            registry=r,
        )

        # The actor world.
        self.chat_actors = Gauge(
            "conserje_chat_actors",
            "Chat actors alive.",
            registry=r,
        )
        self.chat_passivations = Counter(
            "conserje_chat_passivations_total",
            "Idle chat actors stopped, their state kept for the next message.",
            registry=r,
        )
        self.mailbox_messages = Gauge(
            "conserje_chat_mailbox_messages",
            "Messages waiting in chat actors' mailboxes, summed over every live chat actor "
            f"(sampled every {MAILBOX_SAMPLE_SECONDS:g} s).",
            registry=r,
        )

        # Media.
        self.media_downloads = Counter(
            "conserje_media_downloads_total",
            "Guests' voice notes, photos and documents fetched from Whapi, by outcome "
            "(ok, failed, timeout).",
            ["outcome"],
            registry=r,
        )
        self.media_transcriptions = Counter(
            "conserje_media_transcriptions_total",
            "Voice notes transcribed, by outcome (ok, failed, timeout); a failure becomes a "
            "note in the turn.",
            ["outcome"],
            registry=r,
        )
        self.voice_replies = Counter(
            "conserje_voice_replies_total",
            "Replies to voice notes with VOICE_REPLIES on, by outcome: sent (spoken), "
            "withheld (prices, links, numbers: sent as text), failed (speech failed: text).",
            ["outcome"],
            registry=r,
        )

        # Failures.
        self.chat_actor_restarts = Counter(
            "conserje_chat_actor_restarts_total",
            "Chat actors restarted from the journal, by reason: failure (a handler failed "
            "unexpectedly) or cleared (POST /locks/clear).",
            ["reason"],
            registry=r,
        )
        self.quarantined_messages = Counter(
            "conserje_quarantined_messages_total",
            "Guest messages set aside unanswered because handling them failed twice.",
            registry=r,
        )
        self.unexpected_errors = Counter(
            "conserje_unexpected_errors_total",
            "Unexpected exceptions caught and logged, by where: chat_actor, supervisor, "
            "request (answered 500), thread (uncaught in any thread).",
            ["where"],
            registry=r,
        )

        # Fixed label sets start at zero, so a rate over them exists before the first event.
        for outcome in MEDIA_OUTCOMES:
            self.media_downloads.labels(outcome)
            self.media_transcriptions.labels(outcome)
        for outcome in VOICE_REPLY_OUTCOMES:
            self.voice_replies.labels(outcome)
        for kind in MESSAGE_KINDS:
            self.messages_received.labels(kind)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)
        for direction in TOKEN_DIRECTIONS:
            self.model_tokens.labels(direction)
        for outcome in TURN_OUTCOMES:
            self.turns.labels(outcome)
        for outcome in RECOVERY_OUTCOMES:
            self.orphaned_runs_recovered.labels(outcome)
        for reason in RESTART_REASONS:
            self.chat_actor_restarts.labels(reason)
        for where in ERROR_PLACES:
            self.unexpected_errors.labels(where)
        for error in WHAPI_ERRORS:
            self.whapi_errors.labels(error)

    def exposition(self) -> bytes:
        """Render every metric in the Prometheus text format."""
        return generate_latest(self.registry)
