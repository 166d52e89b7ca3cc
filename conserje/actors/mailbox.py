"""The base of Conserje's actors: pykka's threading actor with a lighter mailbox."""

from __future__ import annotations

import queue
from typing import Any

import pykka

__all__ = ["MailboxActor"]


class MailboxActor(pykka.ThreadingActor):
    """A pykka threading actor whose inbox is a ``queue.SimpleQueue``.

    pykka gives a threading actor a ``queue.Queue``, whose every ``put`` and ``get`` goes
    through Python-level ``Condition``s (a new lock for each wait). Each webhook passes
    through three mailboxes (the supervisor's, its chat's, the supervisor's again), so on
    a busy server that bookkeeping, and the lock hand-offs it adds, are paid thousands of
    times a second. ``SimpleQueue`` does the same in C; an inbox needs only ``put``,
    ``get`` and ``empty``, all of which it has, and its ``qsize`` counts the mailbox
    for the metrics.
    """

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        return queue.SimpleQueue()
