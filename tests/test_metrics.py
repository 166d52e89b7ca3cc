"""Metrics derived from the journal: each event moves the metric it means, and no other."""

from __future__ import annotations

import falcon.testing
import pytest

from conserje import metrics_projector, runtime
from conserje.config import load_settings
from conserje.eventlog.events import (
    AgentMessage,
    ContextReset,
    HandoffStarted,
    MediaFailed,
    MediaRef,
    MediaStored,
    MediaTranscribed,
    MessageReceived,
    ReplySending,
    ReplySent,
    RunFinished,
    RunRecovered,
    RunRetried,
    RunStarted,
    ThreadCompacted,
    ToolFinished,
    TurnFinished,
    TurnStarted,
    Usage,
    VoiceFallback,
)
from conserje.eventlog.jsonl import AppendedBatch
from conserje.eventlog.projection import ChatState
from conserje.eventlog.states import ChatStates
from conserje.http.app import create_app
from conserje.metrics import (
    MESSAGE_KINDS,
    RECOVERY_OUTCOMES,
    TURN_OUTCOMES,
    WHAPI_ERRORS,
    Metrics,
)
from conserje.metrics_projector import MetricsProjector
from conserje.runtime import Runtime
from conserje.testing import payloads

CHAT = "34600111222@s.whatsapp.net"
OTHER = "34600333444@s.whatsapp.net"
SEED_NAMES = (
    "bot_fallbacks_total",
    "race_errors_total",
    "token_cleanups_total",
    "high_token_threads",
)


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def projector(metrics):
    return MetricsProjector(metrics, token_threshold=1000, tool_names=["quote_stay"])


def feed(projector, *events, seconds=0.002, sync_seconds=0.001):
    projector.observe(AppendedBatch(list(events), seconds, sync_seconds))


def value(metrics, name, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def turn(turn_id="t1", *, at=100.0, chat=CHAT):
    return TurnStarted(chat=chat, turn_id=turn_id, message_ids=["m1"], ts=at)


def finished(turn_id="t1", outcome="replied", *, at=105.0, chat=CHAT):
    return TurnFinished(chat=chat, turn_id=turn_id, outcome=outcome, ts=at)


def run_started(response_id, *, at, turn_id="t1"):
    return RunStarted(
        chat=CHAT, turn_id=turn_id, response_id=response_id, model="m", background=True, ts=at
    )


def run_finished(turn_id="t1", *, at=104.0, chat=CHAT, status="completed", **usage):
    return RunFinished(chat=chat, turn_id=turn_id, status=status, usage=Usage(**usage), ts=at)


def test_every_metric_is_documented_and_named_by_convention(metrics):
    exposed = metrics.exposition().decode()
    # A counter's family is named without its _total suffix.
    families = {f.name: f for f in metrics.registry.collect()}
    seed = {"bot_fallbacks", "race_errors", "token_cleanups", "high_token_threads"}

    assert seed <= families.keys()
    assert all(name.startswith("conserje_") for name in families.keys() - seed)
    assert all(family.documentation for family in families.values())
    for name in SEED_NAMES:
        assert f"# TYPE {name} " in exposed


@pytest.mark.parametrize(
    ("name", "label", "values"),
    [
        ("conserje_turns_total", "outcome", TURN_OUTCOMES),
        ("conserje_orphaned_runs_recovered_total", "outcome", RECOVERY_OUTCOMES),
        ("conserje_messages_received_total", "kind", MESSAGE_KINDS),
        ("conserje_whapi_errors_total", "error", WHAPI_ERRORS),
    ],
)
def test_fixed_label_series_are_exported_at_zero_before_any_event(metrics, name, label, values):
    # A rate() or an alert over a series that does not exist yet silently sees nothing.
    for each in values:
        assert metrics.registry.get_sample_value(name, {label: each}) == 0.0


def test_each_instance_counts_in_its_own_registry(metrics):
    other = Metrics()
    metrics.race_errors.inc()
    assert value(metrics, "race_errors_total") == 1
    assert value(other, "race_errors_total") == 0


def test_journaled_messages_are_counted_by_kind(metrics, projector):
    feed(
        projector,
        MessageReceived(chat=CHAT, message_id="m1", text="hola"),
        MessageReceived(chat=CHAT, message_id="m2", text="¿sitio?"),
        AgentMessage(chat=CHAT, message_id="a1", text="soy Carmen"),
        MessageReceived(
            chat=CHAT, message_id="m3", text="", media=MediaRef(kind="voice", id="oga-1")
        ),
    )
    assert value(metrics, "conserje_messages_received_total", kind="guest_text") == 2
    assert value(metrics, "conserje_messages_received_total", kind="guest_media") == 1
    assert value(metrics, "conserje_messages_received_total", kind="agent") == 1


def media_failed(stage, *, timed_out=False):
    return MediaFailed(
        chat=CHAT, message_id="m1", stage=stage, error="e", note="n", timed_out=timed_out
    )


def test_media_downloads_and_transcriptions_are_counted_by_outcome(metrics, projector):
    stored = {"file": "f", "size": 1, "sha256": "s"}
    feed(
        projector,
        MediaTranscribed(chat=CHAT, message_id="m1", transcript="hola", model="m", **stored),
        MediaStored(chat=CHAT, message_id="m2", mime="image/jpeg", **stored),
        media_failed("download"),
        media_failed("download", timed_out=True),
        media_failed("transcription"),
        media_failed("transcription", timed_out=True),
        media_failed("image"),
    )
    downloads = "conserje_media_downloads_total"
    transcriptions = "conserje_media_transcriptions_total"
    assert value(metrics, downloads, outcome="ok") == 5
    assert value(metrics, downloads, outcome="failed") == 1
    assert value(metrics, downloads, outcome="timeout") == 1
    assert value(metrics, transcriptions, outcome="ok") == 1
    assert value(metrics, transcriptions, outcome="failed") == 1
    assert value(metrics, transcriptions, outcome="timeout") == 1


def test_voice_replies_are_counted_sent_withheld_or_failed(metrics, projector):
    feed(
        projector,
        turn(),
        ReplySending(chat=CHAT, turn_id="t1", chunk=0, text="hola", audio="voice_1_1.ogg"),
        ReplySent(chat=CHAT, turn_id="t1", chunk=0, whapi_id="w", text="hola", audio="v.ogg"),
        ReplySent(chat=CHAT, turn_id="t1", chunk=1, whapi_id="x", text="texto"),
        VoiceFallback(chat=CHAT, turn_id="t1", reason="withheld", error="it names a price"),
        VoiceFallback(chat=CHAT, turn_id="t1", reason="failed", error="HTTP 500"),
        VoiceFallback(chat=CHAT, turn_id="t1", reason="failed", error="not Ogg"),
    )
    assert value(metrics, "conserje_voice_replies_total", outcome="sent") == 1
    assert value(metrics, "conserje_voice_replies_total", outcome="withheld") == 1
    assert value(metrics, "conserje_voice_replies_total", outcome="failed") == 2


def test_a_finished_turn_is_counted_and_timed_from_its_start(metrics, projector):
    feed(projector, turn(at=100.0))
    feed(projector, finished(at=107.5))

    assert value(metrics, "conserje_turns_total", outcome="replied") == 1
    assert value(metrics, "conserje_turn_seconds_count", outcome="replied") == 1
    assert value(metrics, "conserje_turn_seconds_sum", outcome="replied") == 7.5
    assert value(metrics, "bot_fallbacks_total") == 0


def test_a_turn_started_before_this_process_is_counted_not_timed(metrics, projector):
    feed(projector, finished(outcome="failed"))
    assert value(metrics, "conserje_turns_total", outcome="failed") == 1
    assert value(metrics, "conserje_turn_seconds_count", outcome="failed") == 0


def test_a_fallback_turn_moves_bot_fallbacks_total(metrics, projector):
    feed(projector, turn(), finished(outcome="fallback"))
    assert value(metrics, "bot_fallbacks_total") == 1
    assert value(metrics, "conserje_turns_total", outcome="fallback") == 1


def test_a_finished_run_counts_its_tokens_status_and_latency(metrics, projector):
    feed(projector, turn(at=100.0))
    feed(projector, run_started("r1", at=101.0))
    feed(
        projector,
        run_finished(at=104.0, input_tokens=300, output_tokens=20, cached_tokens=128),
    )

    assert value(metrics, "conserje_model_runs_total", status="completed") == 1
    assert value(metrics, "conserje_model_tokens_total", direction="input") == 300
    assert value(metrics, "conserje_model_tokens_total", direction="output") == 20
    assert value(metrics, "conserje_model_tokens_total", direction="cached") == 128
    assert value(metrics, "conserje_model_run_seconds_count") == 1
    assert value(metrics, "conserje_model_run_seconds_sum") == 3.0


def test_each_run_of_a_turn_is_timed_from_its_own_start(metrics, projector):
    feed(projector, turn(at=100.0))
    feed(projector, run_started("r1", at=101.0))
    feed(projector, run_finished(at=102.0))
    feed(projector, run_started("r2", at=110.0))
    feed(projector, run_finished(at=114.0))
    # A run that could not even start (status error) has no latency to observe.
    feed(projector, run_finished(at=120.0, status="error"))

    assert value(metrics, "conserje_model_run_seconds_count") == 2
    assert value(metrics, "conserje_model_run_seconds_sum") == 5.0
    assert value(metrics, "conserje_model_runs_total", status="error") == 1


def test_retries_recoveries_and_handoffs_are_counted_by_their_label(metrics, projector):
    feed(
        projector,
        RunRetried(chat=CHAT, turn_id="t1", attempt=1, error="500", ambiguous=True),
        RunRetried(chat=CHAT, turn_id="t1", attempt=2, error="429", ambiguous=False),
        RunRecovered(chat=CHAT, turn_id="t1", response_id="r1", outcome="adopted"),
        HandoffStarted(chat=CHAT, by="agent", until=0.0),
    )
    assert value(metrics, "conserje_model_run_retries_total", ambiguous="true") == 1
    assert value(metrics, "conserje_model_run_retries_total", ambiguous="false") == 1
    assert value(metrics, "conserje_orphaned_runs_recovered_total", outcome="adopted") == 1
    assert value(metrics, "conserje_handoffs_total", by="agent") == 1


def test_tool_calls_are_counted_by_tool_and_outcome_with_unknown_names_as_other(metrics, projector):
    def call(name, *, ok=True, error=""):
        return ToolFinished(
            chat=CHAT, turn_id="t1", call_id=name, name=name, ok=ok, output="{}", error=error
        )

    feed(
        projector,
        call("quote_stay"),
        call("quote_stay", ok=False, error="tool_failed"),
        call("made_up_by_the_model", ok=False, error="unknown_tool"),
    )
    tool_calls = "conserje_tool_calls_total"
    assert value(metrics, tool_calls, tool="quote_stay", outcome="ok") == 1
    assert value(metrics, tool_calls, tool="quote_stay", outcome="tool_failed") == 1
    assert value(metrics, tool_calls, tool="other", outcome="unknown_tool") == 1
    assert value(metrics, tool_calls, tool="made_up_by_the_model", outcome="unknown_tool") == 0


def test_a_confirmed_chunk_is_sent_and_an_unconfirmed_one_fails_at_the_turn_end(metrics, projector):
    feed(
        projector,
        turn("t1"),
        ReplySending(chat=CHAT, turn_id="t1", chunk=0, text="Hola"),
        ReplySent(chat=CHAT, turn_id="t1", chunk=0, whapi_id="w1", text="Hola"),
        ReplySending(chat=CHAT, turn_id="t1", chunk=1, text="¿Algo más?"),
    )
    assert value(metrics, "conserje_reply_chunks_sent_total") == 1
    assert value(metrics, "conserje_reply_chunks_failed_total") == 0

    feed(projector, finished("t1", outcome="failed"))
    assert value(metrics, "conserje_reply_chunks_failed_total") == 1


def test_a_chunk_reconciled_after_a_restart_counts_as_sent_not_failed(metrics, projector):
    feed(
        projector,
        ReplySent(chat=CHAT, turn_id="t1", chunk=0, whapi_id="w1", text="Hola", reconciled=True),
        finished("t1"),
    )
    assert value(metrics, "conserje_reply_chunks_sent_total") == 1
    assert value(metrics, "conserje_reply_chunks_failed_total") == 0


def test_a_compaction_moves_token_cleanups_total_and_clears_the_chat_from_high_tokens(
    metrics, projector
):
    feed(projector, run_finished(input_tokens=1500))
    assert value(metrics, "high_token_threads") == 1

    feed(
        projector,
        ThreadCompacted(chat=CHAT, summary="s", kept=2, tokens_before=1500, reason="threshold"),
    )
    assert value(metrics, "token_cleanups_total") == 1
    assert value(metrics, "high_token_threads") == 0


def test_high_token_threads_follows_each_chats_last_run_and_resets(metrics, projector):
    feed(projector, run_finished(input_tokens=1500), run_finished(chat=OTHER, input_tokens=2000))
    assert value(metrics, "high_token_threads") == 2

    feed(projector, run_finished(input_tokens=400))
    assert value(metrics, "high_token_threads") == 1
    feed(projector, run_finished(chat=OTHER, input_tokens=0))  # no usage reported: no news
    assert value(metrics, "high_token_threads") == 1
    feed(projector, ContextReset(chat=OTHER, by="admin"))
    assert value(metrics, "high_token_threads") == 0


def test_high_token_threads_is_seeded_from_the_restored_chats(metrics, projector):
    states = [
        ChatState(CHAT, last_input_tokens=5000),
        ChatState(OTHER, last_input_tokens=10),
        ChatState("34600555666@s.whatsapp.net"),
    ]
    projector.restored(ChatStates({s.chat: s for s in states}).input_tokens())
    assert value(metrics, "high_token_threads") == 1


def test_without_a_threshold_no_chat_is_high(metrics):
    projector = MetricsProjector(metrics, token_threshold=0, tool_names=[])
    feed(projector, run_finished(input_tokens=10**6))
    assert value(metrics, "high_token_threads") == 0


def test_high_token_threads_remembers_a_bounded_number_of_chats(metrics, projector, monkeypatch):
    monkeypatch.setattr(metrics_projector, "HIGH_TOKEN_CHATS_LIMIT", 3)
    feed(
        projector,
        *(run_finished(chat=f"346{n:08d}@s.whatsapp.net", input_tokens=2000) for n in range(10)),
    )
    assert value(metrics, "high_token_threads") == 3


def test_turns_remembered_are_bounded_in_number(metrics, projector, monkeypatch):
    monkeypatch.setattr(metrics_projector, "TURN_MARKS_LIMIT", 3)
    feed(projector, *(turn(f"t{n}", at=100.0 + n) for n in range(5)))
    feed(projector, *(finished(f"t{n}", at=200.0) for n in range(5)))

    # The two oldest were forgotten: counted, but no longer timed.
    assert value(metrics, "conserje_turns_total", outcome="replied") == 5
    assert value(metrics, "conserje_turn_seconds_count", outcome="replied") == 3


def test_turns_remembered_are_bounded_in_age(metrics, projector):
    feed(projector, turn("old", at=0.0))
    feed(projector, turn("new", at=metrics_projector.TURN_MARKS_MAX_AGE + 1.0))
    feed(projector, finished("old", at=4000.0), finished("new", at=4000.0))

    assert value(metrics, "conserje_turns_total", outcome="replied") == 2
    assert value(metrics, "conserje_turn_seconds_count", outcome="replied") == 1


def test_each_batch_times_the_journal_write_and_its_fsync(metrics, projector):
    feed(projector, seconds=0.004, sync_seconds=0.003)
    feed(projector, seconds=0.001, sync_seconds=None)  # fsync off: nothing to time

    assert value(metrics, "conserje_journal_append_seconds_count") == 2
    assert value(metrics, "conserje_journal_append_seconds_sum") == pytest.approx(0.005)
    assert value(metrics, "conserje_journal_fsync_seconds_count") == 1
    assert value(metrics, "conserje_journal_fsync_seconds_sum") == pytest.approx(0.003)


@pytest.fixture
def unbooted(tmp_path, monkeypatch):
    """A runtime whose journal is never opened, behind the real app, in this process."""
    monkeypatch.setattr(runtime, "JOURNAL_OPEN_WAIT", 0.0)
    settings = load_settings(
        {
            "OPENAI_API_KEY": "sk-test",
            "WHAPI_TOKEN": "t",
            "CONSERJE_DATA_DIR": str(tmp_path / "data"),
            "WEBHOOK_TOKEN": "s3cret",
            "WEBHOOK_MAX_BYTES": "2048",
        }
    )
    rt = Runtime(settings)
    yield rt, falcon.testing.TestClient(create_app(rt))
    rt.supervisor.stop()
    rt.whapi.close()


def test_every_way_a_webhook_is_refused_is_counted_once(unbooted):
    rt, client = unbooted
    hook = "/hook/s3cret"
    message = payloads.text_message(CHAT, "hola")

    assert client.simulate_post("/hook/nope", json=message).status_code == 401
    assert client.simulate_post(hook, body=b"{not json").status_code == 400
    assert client.simulate_post(hook, body=b"x" * 5000).status_code == 413
    assert client.simulate_post(hook, json=message).status_code == 503
    status = payloads.status_update("abcdEFGH-ijklMNOP", "read", CHAT)
    assert client.simulate_post(hook, json=status).status_code == 200

    counted = {
        outcome: value(rt.metrics, "conserje_webhooks_total", outcome=outcome)
        for outcome in ("unauthorized", "malformed", "too_large", "unavailable", "ignored")
    }
    assert counted == dict.fromkeys(counted, 1.0)
    assert value(rt.metrics, "conserje_webhooks_total", outcome="accepted") == 0
