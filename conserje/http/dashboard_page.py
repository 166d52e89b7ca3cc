"""``GET /dashboard``: the operators' live page, its files, and its numbers.

The page is static files shipped in the package (``conserje/http/dashboard/``),
with no build step and nothing fetched from elsewhere, so it works offline. It talks
back only to this server: ``/dashboard/events`` (the live stream), ``/dashboard/stats``
and ``/chats/{chat}/timeline``.
"""

from __future__ import annotations

import time
from importlib import resources

import falcon

from conserje.http.auth import require_admin, session_cookie, token_matches
from conserje.runtime import Runtime

__all__ = ["DashboardAsset", "DashboardPage", "DashboardStats"]

# Only this server's own files and endpoints; no inline script or style.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    "index.html": falcon.MEDIA_HTML,
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    # The live stream's client, shared with the chat simulator.
    "live.js": "text/javascript; charset=utf-8",
    # The chat simulator's, routed only by ``conserje demo``.
    "simulator.html": falcon.MEDIA_HTML,
    "simulator.css": "text/css; charset=utf-8",
    "simulator.js": "text/javascript; charset=utf-8",
}
_HOW_TO_SIGN_IN = (
    "Open /dashboard?token=<ADMIN_TOKEN> once: the browser then keeps a session cookie "
    "for this page and its stream."
)


def _read(name: str) -> bytes:
    return (resources.files(__package__) / "dashboard" / name).read_bytes()


def _protect(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", _POLICY)
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Referrer-Policy", "no-referrer")
    resp.set_header("Cache-Control", "no-store")


class DashboardPage:
    """``GET /dashboard``: the page; ``?token=`` signs the browser in and cleans the URL."""

    def __init__(self, runtime: Runtime) -> None:
        self._admin_token = runtime.settings.admin_token
        self._html = _read("index.html")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the page to an admin, or trade a token in the URL for a session cookie."""
        offered = req.get_param("token")
        if offered is not None:
            self._sign_in(req, resp, offered)
            return
        try:
            require_admin(req, self._admin_token, session=True)
        except falcon.HTTPUnauthorized as exc:
            raise falcon.HTTPUnauthorized(
                title=exc.title, description=_HOW_TO_SIGN_IN, challenges=["Bearer"]
            ) from None
        _protect(resp)
        resp.content_type = _TYPES["index.html"]
        resp.data = self._html

    def _sign_in(self, req: falcon.Request, resp: falcon.Response, offered: str) -> None:
        if self._admin_token is None:
            require_admin(req, None)
        elif token_matches(offered, self._admin_token):
            session_cookie(req, resp, self._admin_token)
        else:
            raise falcon.HTTPUnauthorized(
                title="Wrong admin token", description=_HOW_TO_SIGN_IN, challenges=["Bearer"]
            )
        # The token leaves the address bar (and the history) at once.
        resp.set_header("Cache-Control", "no-store")
        resp.status = falcon.HTTP_303
        resp.location = "/dashboard"


class DashboardAsset:
    """``GET /dashboard/<file>``: the page's stylesheet or script (nothing secret in them).

    Args:
        name: the file in ``conserje/http/dashboard/``.
    """

    def __init__(self, name: str) -> None:
        self._data = _read(name)
        self._type = _TYPES[name]

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the file."""
        _protect(resp)
        resp.content_type = self._type
        resp.data = self._data


class DashboardStats:
    """``GET /dashboard/stats``: the numbers at the top of the page and the latest problems."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Report the current numbers, and the latest warnings and errors (masked)."""
        runtime = self._runtime
        require_admin(req, runtime.settings.admin_token, session=True)
        resp.set_header("Cache-Control", "no-store")
        resp.media = {
            "phase": runtime.phase,
            "uptimeSeconds": round(time.time() - runtime.started_at, 1),
            "journalSeq": runtime.journal.last_seq,
            **runtime.live_stats.read(),
            "problems": runtime.recent_logs.records(),
        }
