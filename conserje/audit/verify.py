"""``conserje log verify``: is every line of the journal what the server wrote?"""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import asdict
from pathlib import Path

from conserje.audit.format import plural, size
from conserje.audit.problems import DAMAGED, where
from conserje.audit.progress import Progress
from conserje.errors import JournalCorrupt
from conserje.eventlog.reader import Problem, VerifyReport, journal_bytes, verify_journal
from conserje.eventlog.segments import list_segments

__all__ = ["run"]


def run(args: argparse.Namespace, journal: Path) -> int:
    """Check ``journal`` and print what was found; return 0 if intact, 1 if damaged."""
    try:
        total = journal_bytes(journal)
    except JournalCorrupt:
        total = 0  # verify_journal names the misnamed file itself
    with Progress(total, "checking") as progress:
        report = verify_journal(journal, progress)
    if args.json:
        print(json.dumps(asdict(report), default=str))
    elif report.ok:
        print(_intact(journal, report))
    else:
        print(_damaged(journal, report))
    return 0 if report.ok else DAMAGED


def _intact(journal: Path, report: VerifyReport) -> str:
    holds = f"{plural(report.segments, 'segment')} ({size(report.bytes)})"
    if report.events == 0:
        text = f"The journal in {journal} is intact and holds no events: {holds}."
    else:
        text = _paragraph(
            f"The journal in {journal} is intact: {plural(report.events, 'event')} in {holds}. "
            "Every line's seal and its chain to the line before check out, seq runs from 1 "
            f"to {report.events} without a gap, each chat's version counts up from 1 without "
            "a gap, and each segment starts where the one before ends. The server will open "
            "it as it is."
        )
    if report.torn_tail and report.first_problem is not None:
        tail = report.first_problem
        text += "\n\n" + _paragraph(
            f"Note: the last segment ends with a write that a crash cut short "
            f"({where(tail.segment, tail.line)}: {tail.reason}). Nobody was told that write "
            "succeeded, and the server removes it when it next starts. Nothing to do."
        )
    return text


def _damaged(journal: Path, report: VerifyReport) -> str:
    problem = report.first_problem
    assert problem is not None  # a report that is not ok always names its problem
    return "\n".join(
        [
            f"The journal in {journal} is DAMAGED: the server will not start with it.",
            "",
            f"First bad line: {where(problem.segment, problem.line)}",
            f"Reason: {problem.reason}",
            f"Before it: {plural(report.events, 'event')}, checked and intact.",
            "",
            "What you can do, with the server stopped:",
            _paragraph(
                "1. Restore the whole data dir from a backup taken before the damage. What "
                "happened after that backup is lost; nothing before it is.",
                indent="   ",
            ),
            _paragraph(_keep_advice(journal, problem), indent="   "),
            "Then run 'conserje log verify' again.",
        ]
    )


def _keep_advice(journal: Path, problem: Problem) -> str:
    if problem.line == 0:
        return (
            f"2. Move {problem.segment} out of {journal}: it is not a segment the server "
            "wrote. Keep it elsewhere if you need to know where it came from."
        )
    later = sum(s.path.name > problem.segment.name for s in list_segments(journal))
    after = {0: "", 1: " and the segment after it"}.get(
        later, f" and the {later} segments after it"
    )
    files = problem.segment.name + after
    keep = (
        f" Then put its first {plural(problem.line - 1, 'line')} back under the same name, e.g. "
        f"head -n {problem.line - 1} <moved file> > {problem.segment}."
        if problem.line > 1
        else ""
    )
    return (
        f"2. Or keep the events before the bad line: move {files} out of {journal} "
        f"(keep them: they are the evidence).{keep} The server then knows nothing from the "
        "bad line on: those chats lose that part of their history, and turns begun there "
        "are not resumed."
    )


def _paragraph(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text, width=88, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
