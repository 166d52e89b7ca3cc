"""Operators' endpoints: service info, liveness, readiness and the chats at work."""

from __future__ import annotations

import time

import falcon

from conserje import __version__
from conserje.http.auth import require_admin
from conserje.runtime import Runtime

__all__ = ["HealthResource", "InfoResource", "LocksResource", "ReadyResource"]


def _counts(runtime: Runtime) -> dict[str, int]:
    busy = runtime.board.busy()
    return {
        "journalSeq": runtime.journal.last_seq,
        "liveChatActors": runtime.board.live_actors,
        "chatsWithTurnInFlight": sum(1 for s in busy.values() if s.turn_since is not None),
        "chatsWithWaitingMessages": sum(1 for s in busy.values() if s.waiting),
    }


class HealthResource:
    """``GET /health``: answers at once, even while the journal is replayed."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Report liveness; 503 only when the server has failed and is stopping."""
        runtime = self._runtime
        resp.media = {
            "status": "failed" if runtime.failure else "ok",
            "phase": runtime.phase,
            "environment": runtime.settings.environment,
            "uptimeSeconds": round(time.time() - runtime.started_at, 1),
            **_counts(runtime),
        }
        if runtime.failure:
            resp.status = falcon.HTTP_503


class ReadyResource:
    """``GET /ready``: 200 only once replay and recovery are done."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer 200 when ready to process, else 503 with the current phase."""
        ready = self._runtime.phase == "ready"
        resp.media = {"ready": ready, "phase": self._runtime.phase}
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503


class InfoResource:
    """``GET /``: what this service is and how it is doing."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Describe the service."""
        resp.media = {
            "service": "conserje",
            "version": __version__,
            "environment": self._runtime.settings.environment,
            "status": self._runtime.phase,
            "model": self._runtime.settings.openai_model,
            **_counts(self._runtime),
        }


class LocksResource:
    """``GET /locks``: the seed's lock view, from the actor world's point of view.

    A chat "holds the lock" while a turn is in flight and "has a queue" while guest
    messages wait for a turn. Nothing is locked: each chat's actor serializes its work.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the chats at work (their ids are personal data: admins only)."""
        require_admin(req, self._runtime.settings.admin_token, session=True)
        busy = self._runtime.board.busy()
        resp.media = {
            "activeLocks": sum(1 for s in busy.values() if s.turn_since is not None),
            "activeQueues": sum(1 for s in busy.values() if s.waiting),
            "chats": [
                {"chat": s.chat, "turnInFlightSince": s.turn_since, "waitingMessages": s.waiting}
                for s in busy.values()
            ],
        }
