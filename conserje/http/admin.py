"""Operators' endpoints: service info, liveness, readiness and the chats at work."""

from __future__ import annotations

import time

import falcon

from conserje import __version__
from conserje.http.auth import require_admin
from conserje.runtime import Runtime

__all__ = [
    "HealthResource",
    "InfoResource",
    "LocksClearResource",
    "LocksResource",
    "ReadyResource",
]


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
        """List the chats at work and those a hand-off paused (chat ids: admins only)."""
        require_admin(req, self._runtime.settings.admin_token, session=True)
        busy = self._runtime.board.busy()
        paused = self._runtime.board.paused(self._runtime.clock.now())
        resp.media = {
            "activeLocks": sum(1 for s in busy.values() if s.turn_since is not None),
            "activeQueues": sum(1 for s in busy.values() if s.waiting),
            "chats": [
                {
                    "chat": chat,
                    "turnInFlightSince": busy[chat].turn_since if chat in busy else None,
                    "waitingMessages": busy[chat].waiting if chat in busy else 0,
                    "paused": chat in paused,
                    "pausedUntil": paused.get(chat),
                }
                for chat in {**busy, **paused}
            ],
        }


class LocksClearResource:
    """``POST /locks/clear``: restart every chat actor from the journal (not in production).

    The seed's escape hatch for stuck locks. Here each chat actor stops after the
    message it is handling, is rebuilt from the journal, and gets the messages that
    arrived meanwhile: nothing is lost. Answers 202 at once; it never waits for actors.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Ask the supervisor to restart every live chat actor."""
        require_admin(req, self._runtime.settings.admin_token)
        if self._runtime.settings.production:
            raise falcon.HTTPForbidden(
                title="Not in production",
                description="POST /locks/clear is for development (ENVIRONMENT=production).",
            )
        if self._runtime.phase != "ready":
            raise falcon.HTTPServiceUnavailable(
                title="Not ready", description=f"the server is {self._runtime.phase}"
            )
        restarting = self._runtime.board.live_actors
        self._runtime.clear_chat_actors()
        resp.status = falcon.HTTP_202
        resp.media = {"restarting": restarting}
