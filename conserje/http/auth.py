"""Who may call the admin endpoints: a bearer ``ADMIN_TOKEN``, or loopback when it is unset."""

from __future__ import annotations

import hmac
import ipaddress

import falcon

__all__ = ["bearer_token", "require_admin"]


def bearer_token(req: falcon.Request) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, if any."""
    scheme, _, value = (req.get_header("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_admin(req: falcon.Request, admin_token: str | None) -> None:
    """Refuse the request unless it may use admin endpoints.

    Raises:
        falcon.HTTPUnauthorized: a token is configured and the request lacks it.
        falcon.HTTPForbidden: no token is configured and the client is not loopback.
    """
    if admin_token is not None:
        offered = bearer_token(req) or ""
        if not hmac.compare_digest(offered.encode(), admin_token.encode()):
            raise falcon.HTTPUnauthorized(title="Admin token required", challenges=["Bearer"])
        return
    try:
        loopback = ipaddress.ip_address(req.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise falcon.HTTPForbidden(
            title="Admin endpoints are loopback-only",
            description="Set ADMIN_TOKEN to use them remotely.",
        )
