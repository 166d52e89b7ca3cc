"""``POST /hook``: where Whapi delivers every event.

The answer is Whapi's instruction: 200 means "delivered, do not send again", anything
else makes it retry with a growing delay. So 200 is given only once the messages that
need work are durably journaled, and also for deliveries that need no work (statuses,
echoes of our own sends, message types we do not handle) so Whapi does not retry them.
Every delivery is counted once by how it was answered (``conserje_webhooks_total``).
"""

from __future__ import annotations

import logging

import falcon

from conserje.errors import JournalUnavailable, MalformedWebhook
from conserje.eventlog.events import (
    AgentMessage,
    Event,
    HandoffStarted,
    MediaRef,
    MessageReceived,
)
from conserje.http.auth import bearer_token, token_matches
from conserje.runtime import Runtime
from conserje.whapi.inbound import InboundMessage, MessageKind, parse_webhook

__all__ = ["HookResource"]

log = logging.getLogger(__name__)

_JOURNALED = frozenset({MessageKind.GUEST_TEXT, MessageKind.GUEST_MEDIA, MessageKind.AGENT})

# The refusals below raise Falcon errors; their status names the webhook outcome.
_REFUSED = {400: "malformed", 401: "unauthorized", 413: "too_large", 503: "unavailable"}


class HookResource:
    """Accepts Whapi webhooks at ``/hook`` and ``/hook/{token}``."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._token = runtime.settings.webhook_token
        self._max_bytes = runtime.settings.webhook_max_bytes
        self._chat_types = runtime.settings.allowed_chat_types
        self._outcomes = runtime.metrics.webhooks

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str | None = None) -> None:
        """Journal the guest messages in one delivery, then answer; count the answer."""
        try:
            outcome = self._receive(req, resp, token)
        except falcon.HTTPError as exc:
            refused = _REFUSED.get(exc.status_code)
            if refused is not None:
                self._outcomes.labels(refused).inc()
            raise
        self._outcomes.labels(outcome).inc()

    def _receive(self, req: falcon.Request, resp: falcon.Response, token: str | None) -> str:
        """Answer one delivery and return its outcome (``accepted``, ``duplicate``, ``ignored``)."""
        self._authorize(req, token)
        body = self._read(req)
        try:
            batch = parse_webhook(body)
        except MalformedWebhook as exc:
            raise falcon.HTTPBadRequest(title="Malformed webhook", description=str(exc)) from exc

        kinds = dict.fromkeys(MessageKind, 0)
        drafts: dict[str, list[Event]] = {}
        for message in batch.messages:
            kind = batch.classify(message, self._chat_types)
            kinds[kind] += 1
            if message.id in drafts:
                continue
            if kind in (MessageKind.GUEST_TEXT, MessageKind.GUEST_MEDIA):
                drafts[message.id] = [_guest_message(message)]
            elif kind is MessageKind.AGENT and message.body.strip():
                drafts[message.id] = self._agent_took_over(message)
        now = self._runtime.clock.now()
        for presence in batch.presences:
            if presence.contact_id.isdigit():
                self._runtime.presence(
                    f"{presence.contact_id}@s.whatsapp.net", presence.status.lower(), now
                )
        fresh = self._runtime.seen.claim(drafts)
        if fresh:
            try:
                self._runtime.accept(
                    [e for i, events in drafts.items() if i in fresh for e in events]
                )
            except JournalUnavailable as exc:
                self._runtime.seen.release(fresh)
                raise falcon.HTTPServiceUnavailable(
                    title="Journal unavailable", description=str(exc), retry_after=5
                ) from exc
        resp.media = {
            "received": len(fresh),
            "duplicates": len(drafts) - len(fresh),
            "ignored": sum(n for k, n in kinds.items() if k not in _JOURNALED),
            "unreadable": batch.rejected,
        }
        if fresh:
            return "accepted"
        return "duplicate" if drafts else "ignored"

    def _agent_took_over(self, message: InboundMessage) -> list[Event]:
        """A person wrote from the business phone: record it and pause the assistant."""
        until = self._runtime.clock.now() + self._runtime.settings.human_handoff_pause_ms / 1000
        return [
            AgentMessage(
                chat=message.chat_id,
                message_id=message.id,
                text=message.body,
                sent_at=message.timestamp,
            ),
            HandoffStarted(chat=message.chat_id, by="agent", until=until),
        ]

    def _authorize(self, req: falcon.Request, token: str | None) -> None:
        if self._token is None:
            return
        offered = token if token is not None else bearer_token(req)
        if not token_matches(offered, self._token):
            raise falcon.HTTPUnauthorized(title="Bad webhook token", challenges=["Bearer"])

    def _read(self, req: falcon.Request) -> bytes:
        declared = req.content_length
        if declared is not None and declared > self._max_bytes:
            raise falcon.HTTPContentTooLarge(
                title="Webhook too large", description=f"limit is {self._max_bytes} bytes"
            )
        body = req.bounded_stream.read(self._max_bytes + 1)
        if len(body) > self._max_bytes:
            raise falcon.HTTPContentTooLarge(
                title="Webhook too large", description=f"limit is {self._max_bytes} bytes"
            )
        return body


def _guest_message(message: InboundMessage) -> MessageReceived:
    """The journal's record of a guest's message: its text, or its media's ids and caption."""
    media = message.media
    ref = None
    if media is not None:
        ref = MediaRef(
            kind=message.type,
            id=media.id,
            mime=media.mime_type,
            size=max(0, media.file_size),
            link=media.link,
            name=(media.file_name or media.filename)[:200],
        )
    return MessageReceived(
        chat=message.chat_id,
        message_id=message.id,
        sender=message.from_name,
        text=media.caption if media is not None else message.body,
        sent_at=message.timestamp,
        quoted=message.quoted[:1000],
        media=ref,
    )
