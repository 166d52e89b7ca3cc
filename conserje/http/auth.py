"""Who may call the admin endpoints: a bearer ``ADMIN_TOKEN``, or loopback when it is unset.

A browser cannot put a bearer header on the dashboard's event stream, so the dashboard's
read-only endpoints also take a session cookie. Opening ``/dashboard?token=<ADMIN_TOKEN>``
once sets it (:func:`session_cookie`): HttpOnly, SameSite=Strict, and worth nothing but
those reads. Its value is an HMAC of the token, so the token itself never sits in the
browser, and changing ``ADMIN_TOKEN`` ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import falcon

__all__ = [
    "SESSION_COOKIE",
    "bearer_token",
    "require_admin",
    "session_cookie",
    "token_matches",
]

SESSION_COOKIE = "conserje_admin"
"""The name of the dashboard's session cookie."""

_SESSION_LABEL = b"conserje dashboard session"


def bearer_token(req: falcon.Request) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, if any."""
    scheme, _, value = (req.get_header("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def token_matches(offered: str | None, expected: str) -> bool:
    """Tell, in constant time, whether ``offered`` is the ``expected`` token."""
    return hmac.compare_digest((offered or "").encode(), expected.encode())


def _session_value(admin_token: str) -> str:
    return hmac.new(admin_token.encode(), _SESSION_LABEL, hashlib.sha256).hexdigest()


def session_cookie(req: falcon.Request, resp: falcon.Response, admin_token: str) -> None:
    """Give the browser the dashboard's session cookie (after it showed the token)."""
    resp.set_cookie(
        SESSION_COOKIE,
        _session_value(admin_token),
        path="/",
        http_only=True,
        same_site="Strict",
        # Secure only where the browser speaks HTTPS (itself or through a proxy): a
        # Secure cookie sent over plain HTTP would be dropped and the page never load.
        secure=req.forwarded_scheme == "https",
    )


def _session_matches(req: falcon.Request, admin_token: str) -> bool:
    expected = _session_value(admin_token).encode()
    return any(
        hmac.compare_digest(value.encode(), expected)
        for value in req.get_cookie_values(SESSION_COOKIE) or ()
    )


def require_admin(req: falcon.Request, admin_token: str | None, *, session: bool = False) -> None:
    """Refuse the request unless it may use admin endpoints.

    Args:
        req: the request.
        admin_token: ``ADMIN_TOKEN``, or ``None`` when unset (loopback only).
        session: the dashboard's session cookie is also accepted (read-only endpoints).

    Raises:
        falcon.HTTPUnauthorized: a token is configured and the request lacks it.
        falcon.HTTPForbidden: no token is configured and the client is not loopback.
    """
    if admin_token is not None:
        if token_matches(bearer_token(req), admin_token):
            return
        if session and _session_matches(req, admin_token):
            return
        raise falcon.HTTPUnauthorized(title="Admin token required", challenges=["Bearer"])
    try:
        loopback = ipaddress.ip_address(req.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise falcon.HTTPForbidden(
            title="Admin endpoints are loopback-only",
            description="Set ADMIN_TOKEN to use them remotely.",
        )
