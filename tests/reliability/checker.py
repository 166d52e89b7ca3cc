"""Read what the fakes saw and what the journal says, and count what went wrong.

The guest's view comes from the fake Whapi alone: every guest message carries a token,
and the fake model's reply names the words it answers, so a token sent in no reply is
a lost message and a token sent in two replies is a guest answered twice. The journal
is checked on its own terms too (each message consumed by one turn, each chunk sent
once) and with ``conserje log verify``, as an auditor would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TOKEN", "Figures", "check", "verify_journal"]

TOKEN = re.compile(r"\bk\d{6}\b")
"""A guest message's token: ``k`` and six digits, unique within a campaign."""


@dataclass
class Figures:
    """What a campaign's checker found; each count must be 0.

    Attributes:
        name: the campaign's name.
        acknowledged: guest messages answered 200 by the server.
        lost: acknowledged messages no reply to the guest answers.
        answered_twice: acknowledged messages answered by more than one reply, plus
            messages the journal shows consumed by two turns or chunks sent twice.
        orphans: background runs still queued or in progress at the fake model.
        tools_rerun: tool executions beyond one per journaled call.
        verify: what ``conserje log verify`` said, and its exit code.
        details: one line per problem found, for whoever has to debug it.
        extra: campaign-specific figures printed after the four (kills, rounds...).
    """

    name: str
    acknowledged: int
    lost: int
    answered_twice: int
    orphans: int
    tools_rerun: int
    verify: str
    verify_ok: bool
    details: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether nothing was lost, nothing duplicated, nothing left running, journal intact."""
        return (
            self.acknowledged > 0
            and not (self.lost or self.answered_twice or self.orphans or self.tools_rerun)
            and self.verify_ok
        )

    def report(self) -> str:
        """The figures as lines for a terminal."""
        extra = "  ".join(f"{k}={v}" for k, v in self.extra.items())
        lines = [
            f"campaign {self.name}: {'OK' if self.ok else 'FAILED'}  {extra}".rstrip(),
            f"  acknowledged            {self.acknowledged}",
            f"  acknowledged, never answered  {self.lost}",
            f"  guest turns answered twice    {self.answered_twice}",
            f"  runs left running at the model {self.orphans}",
            f"  tool calls run twice    {self.tools_rerun}",
            f"  journal verify          {self.verify}",
        ]
        lines += [f"  ! {d}" for d in self.details[:20]]
        return "\n".join(lines)


def verify_journal(data_dir: Path) -> tuple[bool, str]:
    """Run ``conserje log verify`` on ``data_dir``; return (intact, first line and exit code)."""
    done = subprocess.run(
        [sys.executable, "-m", "conserje", "log", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    said = " ".join((done.stdout.strip() or done.stderr.strip()).split())
    return done.returncode == 0, f"exit {done.returncode}: {said[:160]}"


def check(
    name: str,
    acknowledged: dict[str, str],
    journal: list[dict[str, Any]],
    *,
    sent_bodies: list[str],
    running: list[str],
    data_dir: Path,
    tool_runs: int = 0,
) -> Figures:
    """Count lost, doubly answered and orphaned work after a campaign.

    Args:
        name: the campaign's name, for the report.
        acknowledged: message id to token, for every message the server answered 200.
        journal: every event in the journal, in order.
        sent_bodies: the text of every message the fake Whapi accepted.
        running: ids of the runs still pending at the fake model.
        data_dir: the server's data dir, for ``conserje log verify``.
        tool_runs: how many times the tools really ran (the plugin's own count).
    """
    details: list[str] = []
    answered = Counter(t for body in sent_bodies for t in set(TOKEN.findall(body)))
    lost = [t for t in acknowledged.values() if answered[t] == 0]
    twice = [t for t in acknowledged.values() if answered[t] > 1]
    details += [f"{t} acknowledged but never answered" for t in lost]
    details += [f"{t} answered {answered[t]} times" for t in twice]

    consumed = Counter(i for e in journal if e["type"] == "turn_started" for i in e["message_ids"])
    chunks = Counter((e["turn_id"], e["chunk"]) for e in journal if e["type"] == "reply_sent")
    journaled_twice = [f"message {i} consumed by {n} turns" for i, n in consumed.items() if n > 1]
    journaled_twice += [
        f"turn {t} chunk {c} sent {n} times" for (t, c), n in chunks.items() if n > 1
    ]
    details += journaled_twice
    received = {e["message_id"] for e in journal if e["type"] == "message_received"}
    unjournaled = [i for i in acknowledged if i not in received]
    details += [f"{i} acknowledged but not in the journal" for i in unjournaled]
    details += [f"run {r} still running at the model" for r in running]
    calls = len({e["call_id"] for e in journal if e["type"] == "tool_called"})
    rerun = max(0, tool_runs - calls)
    if rerun:
        details.append(f"tools ran {tool_runs} times for {calls} journaled calls")
    intact, verdict = verify_journal(data_dir)
    return Figures(
        name=name,
        acknowledged=len(acknowledged),
        lost=len(set(lost) | {acknowledged[i] for i in unjournaled}),
        answered_twice=len(twice) + len(journaled_twice),
        orphans=len(running),
        tools_rerun=rerun,
        verify=verdict,
        verify_ok=intact,
        details=details,
    )
