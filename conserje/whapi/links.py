"""Which auto-download links Conserje fetches, and from which address: public ones only.

A media ``link`` comes in the webhook, and webhooks may come from anyone when
``WEBHOOK_TOKEN`` is unset. Fetched blindly, a link to ``169.254.169.254`` or an
internal service would make the server read it for the sender (server-side request
forgery), and a photo or PDF fetched that way would even be described to them. So a
link must be http(s) and resolve only to public addresses; links on Whapi's own API
host (``WHAPI_API_URL``, which a test's fake Whapi shares) are trusted as they are.

The fetch then connects to the very address that was checked, not to the host name:
resolved a second time, a name whose DNS answer changes in between (DNS rebinding)
could point the fetch at an address the check never saw. The request still names the
link's host in its ``Host`` header and, over HTTPS, in TLS (SNI and the certificate
check), so the server sees the request it would have seen.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2

from conserje.errors import WhapiError

__all__ = ["PinnedLink", "Resolver", "pin_link", "resolve_host"]

Resolver = Callable[[str, int], Sequence[str]]
"""Returns the addresses a host name resolves to (as text), for a port."""


def resolve_host(host: str, port: int) -> list[str]:
    """Return the addresses ``host`` resolves to, by the system's resolver.

    Raises:
        OSError: the name does not resolve.
    """
    found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(address[0]) for *_, address in found]


# IPv6 addresses that carry an IPv4 address a gateway or tunnel may deliver to: NAT64's
# well-known prefix and the deprecated IPv4-compatible form (IPv4-mapped and 6to4 ones
# Python's ipaddress reads itself).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Ranges some Python versions count as global: NAT64's local-use prefix (RFC 8215, which
# may carry any IPv4 address, private ones included) and the deprecated site-local one.
_NOT_GLOBAL = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10"))


def _is_public(address: str) -> bool:
    """Tell whether ``address`` (and any IPv4 address it carries) is a public one.

    Raises:
        ValueError: ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address.partition("%")[0])
    if ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _NOT_GLOBAL):
            return False
        carried = ip.ipv4_mapped or ip.sixtofour
        if carried is None and (ip in _NAT64 or ip in _IPV4_COMPATIBLE):
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if carried is not None and not carried.is_global:
            return False
    return ip.is_global


@dataclass(frozen=True)
class PinnedLink:
    """How to fetch a media link from the address that was checked.

    Attributes:
        url: the link with its host replaced by that address (the link itself when it
            is on Whapi's own API host).
        headers: ``Host``, naming the link's own host.
        extensions: ``sni_hostname`` for HTTPS, so TLS names and verifies that host.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def pin_link(
    url: str, trusted_origin: tuple[str, str, int], resolve: Resolver = resolve_host
) -> PinnedLink:
    """Check ``url`` and return how to fetch it from the address that passed the check.

    Args:
        url: the link from the webhook.
        trusted_origin: ``(scheme, host, port)`` of Whapi's API.
        resolve: the name resolver (the system's by default).

    Raises:
        WhapiError: the link is not one to fetch.
    """
    try:
        link = httpx2.URL(url)
    except httpx2.InvalidURL as exc:
        raise WhapiError("media link is not a valid URL") from exc
    if link.scheme not in ("http", "https") or not link.host:
        raise WhapiError("media link is not an http(s) URL")
    port = link.port or (443 if link.scheme == "https" else 80)
    if (link.scheme, link.host, port) == trusted_origin:
        return PinnedLink(url)
    host = link.raw_host.decode("ascii")
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise WhapiError(f"media link host does not resolve: {exc}") from exc
    if not addresses:
        raise WhapiError("media link host does not resolve")
    for address in addresses:
        try:
            public = _is_public(address)
        except ValueError as exc:
            raise WhapiError("media link host resolves to something not an address") from exc
        if not public:
            raise WhapiError("media link points at a private or local address")
    extensions = {"sni_hostname": host} if link.scheme == "https" else {}
    return PinnedLink(
        str(link.copy_with(host=addresses[0].partition("%")[0])),
        {"Host": link.netloc.decode("ascii")},
        extensions,
    )
