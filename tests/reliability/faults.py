"""Faults from outside, injected by the fakes, and what the real server does about each.

Every row of :data:`CASES` arms one fault at the fake OpenAI or the fake Whapi, has a
fresh guest write one message through the real server, and records what the guest got,
what the journal says about the turn and which metrics moved. The table test
(``test_faults.py``) checks each row against what it promises; run by hand, this module
prints the table::

    python -m tests.reliability.faults
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from conserje.testing import payloads
from conserje.testing._server import Fault, json_response
from conserje.testing.wait import wait_for
from tests.reliability.rig import Rig, rig

__all__ = ["APOLOGY", "CASES", "Case", "Outcome", "print_table", "run_case", "table_rig"]

APOLOGY = "Perdona, ahora mismo no puedo responder."
"""The ``FALLBACK_MESSAGE`` the table's server sends when the model fails for good."""

SETTINGS = {
    "FALLBACK_MESSAGE": APOLOGY,
    "OPENAI_REQUEST_TIMEOUT_MS": "1000",
    "OPENAI_RUN_TIMEOUT_MS": "4000",
    "WHAPI_TIMEOUT_MS": "1000",
    "THREAD_TOKEN_THRESHOLD": "0",
    "HISTORIAL_SUMMARY_THRESHOLD": "100",
}
"""Short bounds, so a timeout is seconds away; compaction only when the model refuses."""

_PADDING = " (te lo explico con calma para que quede todo bien anotado)" * 3


def _openai_error(status: int, code: str | None, headers: dict[str, str] | None = None) -> Any:
    kind = "invalid_request_error" if status == 400 else "server_error"
    body = {"error": {"message": f"refused ({status})", "type": kind, "param": None, "code": code}}
    return json_response(status, body, headers or {})


def _whapi_error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    return json_response(status, {"error": {"code": status, "message": message}}, headers or {})


def _on_create(**fault: Any) -> Callable[[Rig], None]:
    return lambda r: r.openai.inject(Fault("POST", "/v1/responses", **fault))


def _on_send(**fault: Any) -> Callable[[Rig], None]:
    return lambda r: r.whapi.inject(Fault("POST", "/messages/text", **fault))


def _both(*arms: Callable[[Rig], None]) -> Callable[[Rig], None]:
    return lambda r: [arm(r) for arm in arms] and None


def _stall(r: Rig) -> None:
    r.openai.stall = True


def _unstall(r: Rig) -> None:
    r.openai.stall = False


def _unauthorise(r: Rig) -> None:
    r.whapi.authorised = False


def _authorise(r: Rig) -> None:
    r.whapi.authorised = True


@dataclass(frozen=True)
class Case:
    """One fault and what the server promises about it.

    Attributes:
        fault: the fault, as the table names it.
        arm: injects it into the fakes.
        guest_gets: ``reply`` (the answer, once), ``apology`` (``FALLBACK_MESSAGE``,
            once) or ``nothing``.
        outcome: the turn's ``turn_finished`` outcome.
        journaled: event types the turn's story must hold, beyond the usual ones.
        counted: metric samples (name and labels) that must move by at least 1.
        disarm: undoes ``arm`` after the turn (faults that ``times`` does not end).
        warmup: turns the chat has first (a history to compact).
        sends: Whapi sends of the reply the fake really performs (a timed-out send
            that still lands counts); the guest still sees at most one.
    """

    fault: str
    arm: Callable[[Rig], None]
    guest_gets: str
    outcome: str
    journaled: tuple[str, ...] = ()
    counted: tuple[tuple[str, dict[str, str]], ...] = ()
    disarm: Callable[[Rig], None] = lambda r: None
    warmup: int = 0
    sends: int = 1


@dataclass
class Outcome:
    """What one case really did.

    Attributes:
        guest_got: the bodies Whapi sent to the guest after the fault was armed.
        outcome: the turn's outcome (``""`` if it never finished).
        story: the turn's steps as the journal tells them, in order.
        moved: metric samples that moved, with how much.
        problems: where the case broke its promise (empty: it kept it).
    """

    guest_got: list[str]
    outcome: str
    story: list[str]
    moved: dict[str, float]
    problems: list[str] = field(default_factory=list)


_RETRY_AFTER = {"retry-after": "1"}

CASES: tuple[Case, ...] = (
    Case(
        "OpenAI 429 with retry-after",
        _on_create(response=_openai_error(429, "rate_limit_exceeded", _RETRY_AFTER)),
        "reply",
        "replied",
        ("run_retried",),
        (("conserje_model_run_retries_total", {"ambiguous": "false"}),),
    ),
    Case(
        "OpenAI 500",
        _on_create(response=_openai_error(500, None)),
        "reply",
        "replied",
        ("run_retried",),
        (("conserje_model_run_retries_total", {"ambiguous": "true"}),),
    ),
    Case(
        "OpenAI timeout",
        _on_create(delay=1.5),
        "reply",
        "replied",
        ("run_retried",),
        (("conserje_model_run_retries_total", {"ambiguous": "true"}),),
    ),
    Case(
        "OpenAI dropped connection",
        _on_create(drop=True),
        "reply",
        "replied",
        ("run_retried",),
        (("conserje_model_run_retries_total", {"ambiguous": "true"}),),
    ),
    Case(
        "OpenAI context_length_exceeded",
        _on_create(response=_openai_error(400, "context_length_exceeded")),
        "reply",
        "replied",
        ("thread_compacted",),
        (("token_cleanups_total", {}),),
        warmup=2,
    ),
    Case(
        "OpenAI background run fails",
        lambda r: r.openai.fail_next_run(),
        "apology",
        "fallback",
        ("run_finished",),
        (("bot_fallbacks_total", {}), ("conserje_model_runs_total", {"status": "failed"})),
    ),
    Case(
        "OpenAI background run stays queued",
        _stall,
        "apology",
        "fallback",
        ("run_finished",),
        (("bot_fallbacks_total", {}), ("conserje_model_runs_total", {"status": "error"})),
        disarm=_unstall,
    ),
    Case(
        "Whapi 503",
        _on_send(response=_whapi_error(503, "Service unavailable")),
        "reply",
        "replied",
        ("reply_sent",),
        (("conserje_whapi_errors_total", {"error": "server"}),),
    ),
    Case(
        "Whapi 429",
        _on_send(response=_whapi_error(429, "Too many requests", _RETRY_AFTER)),
        "reply",
        "replied",
        ("reply_sent",),
        (("conserje_whapi_errors_total", {"error": "rate_limited"}),),
    ),
    Case(
        "Whapi timeout",
        _on_send(delay=1.5),
        "reply",
        "replied",
        ("reply_sent",),
        (("conserje_whapi_errors_total", {"error": "timeout"}),),
    ),
    Case(
        "Whapi timeout, then its list fails once",
        _both(
            _on_send(delay=1.5),
            lambda r: r.whapi.inject(
                Fault("GET", "/messages/list/", response=_whapi_error(503, "Unavailable"))
            ),
        ),
        "reply",
        "replied",
        ("reply_sent",),
        (
            ("conserje_whapi_errors_total", {"error": "timeout"}),
            ("conserje_whapi_errors_total", {"error": "server"}),
        ),
    ),
    Case(
        "Whapi dropped connection",
        _on_send(drop=True),
        "reply",
        "replied",
        ("reply_sent",),
        (("conserje_whapi_errors_total", {"error": "connection"}),),
    ),
    Case(
        "Whapi 401 channel not authorised",
        _unauthorise,
        "nothing",
        "failed",
        (),
        (
            ("conserje_whapi_errors_total", {"error": "unauthorized"}),
            ("conserje_reply_chunks_failed_total", {}),
            ("conserje_turns_total", {"outcome": "failed"}),
        ),
        disarm=_authorise,
        sends=0,
    ),
    Case("Whapi slow answer", _on_send(delay=0.6), "reply", "replied"),
)


def _metrics(r: Rig) -> dict[str, float]:
    text = r.server.get("/metrics").text
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith(("_bucket", "_created", "_sum"))
    }


def _sample(name: str, labels: dict[str, str]) -> str:
    return f"{name}{sorted(labels.items())}"


def _talk(r: Rig, chat: str, text: str) -> str:
    message = payloads.text_message(chat, text)
    assert r.server.post("/hook", json=message).status_code == 200
    return message["messages"][0]["id"]


def _finished_turn(r: Rig, chat: str, message_id: str) -> list[dict[str, Any]]:
    """Return the chat's events from the turn that consumed ``message_id`` to its end."""
    events = [e for e in r.server.journal() if e["chat"] == chat]
    start = next(
        (
            n
            for n, e in enumerate(events)
            if e["type"] == "turn_started" and message_id in e["message_ids"]
        ),
        None,
    )
    if start is None:
        return []
    turn = events[start]["turn_id"]
    end = next(
        (n for n, e in enumerate(events) if e["type"] == "turn_finished" and e["turn_id"] == turn),
        None,
    )
    return [] if end is None else events[start : end + 1]


def _moved(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """How much every sample of ``name`` moved, summed."""
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(name + "["))


def _within(condition: Callable[[], Any], timeout: float) -> Any:
    """Wait for ``condition`` as :func:`wait_for` does; ``None`` if it never held."""
    try:
        return wait_for(condition, timeout=timeout)
    except TimeoutError:
        return None


def run_case(r: Rig, case: Case, number: int) -> Outcome:
    """Run one case on a fresh chat of a started rig and judge it."""
    chat = f"3471{number:07d}@s.whatsapp.net"
    for n in range(case.warmup):
        warm = _talk(r, chat, f"antes {n}{_PADDING}")
        wait_for(lambda warm=warm: _finished_turn(r, chat, warm), timeout=30, what="a warm-up turn")
    before_sent = len(r.whapi.sent_to(chat))
    before = _metrics(r)
    token = f"k{number:06d}"
    case.arm(r)
    try:
        message_id = _talk(r, chat, f"pregunta {token}")
        story = _within(lambda: _finished_turn(r, chat, message_id), 45) or []
        _within(lambda: len(r.whapi.sent_to(chat)) - before_sent >= case.sends, 10)
    finally:
        case.disarm(r)
    turns = "conserje_turns_total"
    _within(lambda: _moved(before, _metrics(r), turns) >= 1, 5)
    after = _metrics(r)
    got = [m.body for m in r.whapi.sent_to(chat)[before_sent:]]
    moved = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    finished = story[-1]["outcome"] if story else ""
    outcome = Outcome(got, finished, [_step(e) for e in story], moved)
    outcome.problems = _judge(case, outcome, token)
    running = _within(lambda: not r.openai.running(), 10) is None
    if running:
        outcome.problems.append(f"runs left running at the model: {r.openai.running()}")
    return outcome


def _judge(case: Case, seen: Outcome, token: str) -> list[str]:
    problems = []
    expected = {"reply": [f"answer to: pregunta {token}"], "apology": [APOLOGY], "nothing": []}
    if seen.guest_got != expected[case.guest_gets]:
        problems.append(f"guest got {seen.guest_got}, not {case.guest_gets}")
    if seen.outcome != case.outcome:
        problems.append(f"turn {seen.outcome or 'unfinished'}, not {case.outcome}")
    types = {step.split()[0] for step in seen.story}
    problems += [f"no {t} journaled" for t in case.journaled if t not in types]
    problems += [
        f"{name}{labels} did not move"
        for name, labels in case.counted
        if seen.moved.get(_sample(name, labels), 0) < 1
    ]
    return problems


def table_rig(root: Path) -> Any:
    """The rig every case runs on: :data:`SETTINGS`, a model with a little latency."""
    return rig(root, latency=0.2, **SETTINGS)


def print_table(say: Callable[[str], None] = print) -> bool:
    """Run every case and print the table; return whether every case kept its promise."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="conserje-faults-") as root, table_rig(Path(root)) as r:
        r.server.start()
        for number, case in enumerate(CASES, start=1):
            rows.append((case, run_case(r, case, number)))
        r.server.stop()
    say("| fault | guest gets | turn | journaled | counted | lost or twice |")
    say("|---|---|---|---|---|---|")
    for case, seen in rows:
        notable = [step for step in seen.story if step not in _ROUTINE]
        if not any(step.startswith("reply_sent") for step in seen.story):
            notable.append("no reply_sent")
        counted = ", ".join(
            f"{_label(k)} +{v:g}" for k, v in sorted(seen.moved.items()) if _shown(_label(k))
        )
        verdict = "; ".join(seen.problems) or "0 lost, 0 twice"
        say(
            f"| {case.fault} | {case.guest_gets} | {seen.outcome} "
            f"| {', '.join(notable) or 'the usual steps'} "
            f"| {counted} | {verdict} |"
        )
    return all(not seen.problems for _, seen in rows)


_ROUTINE = frozenset(
    {
        "turn_started",
        "run_started",
        "run_finished completed",
        "reply_sending",
        "reply_sent",
        "turn_finished",
    }
)


def _step(event: dict[str, Any]) -> str:
    """One journaled step, with what tells it apart from the usual."""
    kind = event["type"]
    if kind == "run_retried":
        return f"run_retried ({'ambiguous' if event['ambiguous'] else 'refused'})"
    if kind == "run_finished":
        return f"run_finished {event['status']}"
    if kind == "reply_sent" and event.get("reconciled"):
        return "reply_sent (found in Whapi's list)"
    if kind == "thread_compacted":
        return f"thread_compacted ({event['reason']})"
    return kind


def _label(sample: str) -> str:
    """``name[('k', 'v')]`` as ``name{k=v}``."""
    name, _, labels = sample.partition("[")
    pairs = re.findall(r"\('([^']*)', '([^']*)'\)", labels)
    return name + ("{" + ",".join(f"{k}={v}" for k, v in pairs) + "}" if pairs else "")


def _shown(sample: str) -> bool:
    """Counters worth a column: not the ones every turn moves the same way."""
    return not sample.startswith(
        (
            "conserje_webhooks_total",
            "conserje_messages_received_total",
            "conserje_journal",
            "conserje_model_tokens_total",
            "conserje_turn_seconds",
            "conserje_model_run_seconds",
            "conserje_reply_chunks_sent_total",
            "conserje_chat",
            "conserje_model_runs_total{status=completed}",
            "conserje_turns_total{outcome=replied}",
        )
    )


if __name__ == "__main__":
    sys.exit(0 if print_table() else 1)
