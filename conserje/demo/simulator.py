"""The simulator's HTTP side: its page, and the demo-only endpoints it talks to.

``POST /demo/send`` makes the fake Whapi deliver a guest's message to ``/hook`` exactly
as Whapi would (same envelope, same path); ``GET /demo/chat`` reads the chat back as the
guest's phone shows it. These routes exist only in a server started by ``conserje demo``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import falcon
import httpx2

from conserje.demo.guest_view import GuestLog, GuestMessage, guest_view
from conserje.demo.media import MEDIA_KINDS, media_webhook
from conserje.http.auth import require_admin
from conserje.http.dashboard_page import DashboardAsset
from conserje.testing import payloads
from conserje.testing.fake_whapi import FakeWhapi

__all__ = ["GUEST_NAME", "demo_routes"]

GUEST_NAME = "Demo Guest"
"""The WhatsApp name the simulator's guest has."""

MAX_TEXT = 4096
"""WhatsApp's limit on a text message, in characters."""

_PHONE = re.compile(r"\d{6,15}")


def demo_routes(whapi: FakeWhapi, admin_token: str | None) -> list[tuple[str, object]]:
    """Return the simulator's routes, wired to the demo's fake Whapi."""
    guests = GuestLog()
    return [
        ("/dashboard/simulator", DashboardAsset("simulator.html")),
        ("/dashboard/simulator.css", DashboardAsset("simulator.css")),
        ("/dashboard/simulator.js", DashboardAsset("simulator.js")),
        ("/demo/send", SendResource(whapi, guests, admin_token)),
        ("/demo/chat", ChatResource(whapi, guests, admin_token)),
    ]


def _chat_id(raw: Any) -> str:
    if not isinstance(raw, str) or not _PHONE.fullmatch(raw):
        raise falcon.HTTPBadRequest(
            title="Bad phone", description="phone must be 6 to 15 digits, e.g. 34600000001"
        )
    return f"{raw}@s.whatsapp.net"


class SendResource:
    """``POST /demo/send``: the guest sends ``{"phone", "text"}`` or ``{"phone", "kind"}``."""

    def __init__(self, whapi: FakeWhapi, guests: GuestLog, admin_token: str | None) -> None:
        self._whapi = whapi
        self._guests = guests
        self._admin_token = admin_token

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Post the guest's message to ``/hook`` as Whapi's webhook; answer what it answered."""
        require_admin(req, self._admin_token)
        body = req.get_media(default_when_empty=None)
        if not isinstance(body, dict):
            raise falcon.HTTPBadRequest(title="The body must be a JSON object")
        chat = _chat_id(body.get("phone"))
        kind, text = body.get("kind", "text"), body.get("text")
        if kind == "text":
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                raise falcon.HTTPBadRequest(
                    title="Bad text", description=f"text must have 1 to {MAX_TEXT} characters"
                )
            payload = payloads.text_message(chat, text, name=GUEST_NAME)
        elif kind in MEDIA_KINDS:
            payload = media_webhook(self._whapi, kind, chat, GUEST_NAME)
        else:
            raise falcon.HTTPBadRequest(
                title="Bad kind", description="kind must be text, voice or image"
            )
        message = payload["messages"][0]
        sent_at = time.time()
        try:
            status = self._whapi.post_webhook(payload)
        except httpx2.TransportError as exc:
            raise falcon.HTTPBadGateway(
                title="The webhook was not delivered", description=str(exc)
            ) from exc
        if status != 200:
            raise falcon.HTTPBadGateway(
                title="The webhook was refused", description=f"/hook answered {status}"
            )
        # Only what the server accepted shows on the guest's phone as sent.
        self._guests.add(
            GuestMessage(
                id=message["id"],
                chat=chat,
                mine=True,
                type=message["type"],
                text=text if kind == "text" else message[kind].get("caption", ""),
                at=sent_at,
            )
        )
        resp.media = {"id": message["id"], "chat": chat, "webhookStatus": status}


class ChatResource:
    """``GET /demo/chat?phone=N``: the chat as the guest's phone shows it now."""

    def __init__(self, whapi: FakeWhapi, guests: GuestLog, admin_token: str | None) -> None:
        self._whapi = whapi
        self._guests = guests
        self._admin_token = admin_token

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer the delivered messages and whether "typing…" shows."""
        require_admin(req, self._admin_token)
        chat = _chat_id(req.get_param("phone"))
        whapi = self._whapi
        sent = [
            GuestMessage(m.id, chat, False, m.type, m.body, m.received_at, m.typing_time)
            for m in whapi.sent_to(chat)
        ]
        presences = [
            (r.received_at, str((r.json() or {}).get("presence")))
            for r in whapi.requests("PUT", f"/presences/{chat}")
        ]
        view = guest_view(self._guests.of(chat), sent, presences, whapi.read_marks, time.time())
        resp.set_header("Cache-Control", "no-store")
        resp.media = {"chat": chat, **view}
