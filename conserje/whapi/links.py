"""Which auto-download links Conserje fetches: public hosts only.

A media ``link`` comes in the webhook, and webhooks may come from anyone when
``WEBHOOK_TOKEN`` is unset. Fetched blindly, a link to ``169.254.169.254`` or an
internal service would make the server read it for the sender (server-side request
forgery), and a photo or PDF fetched that way would even be described to them. So a
link must be http(s) and resolve only to public addresses; links on Whapi's own API
host (``WHAPI_API_URL``, which a test's fake Whapi shares) are trusted as they are.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from conserje.errors import WhapiError

__all__ = ["check_link"]


def check_link(url: str, trusted_origin: tuple[str, str, int]) -> None:
    """Refuse ``url`` unless it is http(s) on a public host or on the trusted origin.

    Args:
        url: the link from the webhook.
        trusted_origin: ``(scheme, host, port)`` of Whapi's API.

    Raises:
        WhapiError: the link is not one to fetch.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WhapiError("media link is not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WhapiError("media link has a bad port") from exc
    if (parts.scheme, parts.hostname, port) == trusted_origin:
        return
    try:
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise WhapiError(f"media link host does not resolve: {exc}") from exc
    for *_, address in found:
        if not ipaddress.ip_address(address[0].partition("%")[0]).is_global:
            raise WhapiError("media link points at a private or local address")
