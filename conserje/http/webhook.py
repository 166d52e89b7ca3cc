"""``/hook``: where Whapi delivers every event, in any of its webhook modes.

The answer is Whapi's instruction: 200 means "delivered, do not send again", anything
else makes it retry with a growing delay. So 200 is given only once the messages that
need work are durably journaled, and also for deliveries that need no work (statuses,
echoes of our own sends, message types we do not handle, edits and deletions in method
and path modes) so Whapi does not retry them. Every delivery is counted once by how it
was answered (``conserje_webhooks_total``).

The body is read the same way in every mode. When the URL names an event type the
body's ``event.type`` disagrees with, the body is still read as it is and a warning is
logged: the body's payload keys are what Conserje reads, refusing would make Whapi
retry for ever, and a guest's message in it must not be lost to a misrouted URL.
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
from conserje.whapi.inbound import InboundMessage, MessageKind, WebhookBatch, parse_webhook
from conserje.whapi.webhook_modes import HookPath, NotAWebhookPath, read_hook_path

__all__ = ["HookResource"]

log = logging.getLogger(__name__)

_JOURNALED = frozenset({MessageKind.GUEST_TEXT, MessageKind.GUEST_MEDIA, MessageKind.AGENT})

# The refusals below raise Falcon errors; their status names the webhook outcome. A
# path that is none of the webhook forms is a misconfigured URL, as worth an alert as
# a malformed body.
_REFUSED = {
    400: "malformed",
    401: "unauthorized",
    404: "malformed",
    413: "too_large",
    503: "unavailable",
}


class HookResource:
    """Accepts Whapi webhooks at ``/hook`` and the forms Whapi's modes add to it.

    Routes: ``/hook`` (POST), ``/hook/{token}`` and ``/hook/{token}/{event}`` with the
    ``typed`` suffix (POST, PUT, PATCH, DELETE: method mode sends every method), and
    ``/hook/{token}/{event}/{method}`` with the ``path`` suffix (POST). Falcon names a
    path segment by its position, so ``token`` may hold an event type and ``event`` a
    method; :func:`read_hook_path` says which.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._token = runtime.settings.webhook_token
        self._max_bytes = runtime.settings.webhook_max_bytes
        self._chat_types = runtime.settings.allowed_chat_types
        self._outcomes = runtime.metrics.webhooks

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Receive a delivery in body mode, at ``/hook`` itself."""
        self._deliver(req, resp, ())

    def on_post_typed(
        self, req: falcon.Request, resp: falcon.Response, token: str, event: str = ""
    ) -> None:
        """Receive a delivery at ``/hook/{token}`` or ``/hook/{token}/{event}``."""
        self._deliver(req, resp, (token, event) if event else (token,))

    on_put_typed = on_post_typed
    on_patch_typed = on_post_typed
    on_delete_typed = on_post_typed

    def on_post_path(
        self, req: falcon.Request, resp: falcon.Response, token: str, event: str, method: str
    ) -> None:
        """Receive a delivery in path mode with the token: ``/hook/{token}/{type}/{method}``."""
        self._deliver(req, resp, (token, event, method))

    def _deliver(
        self, req: falcon.Request, resp: falcon.Response, segments: tuple[str, ...]
    ) -> None:
        """Journal the guest messages in one delivery, then answer; count the answer."""
        try:
            outcome = self._receive(req, resp, segments)
        except falcon.HTTPError as exc:
            refused = _REFUSED.get(exc.status_code)
            if refused is not None:
                self._outcomes.labels(refused).inc()
            raise
        self._outcomes.labels(outcome).inc()

    def _receive(
        self, req: falcon.Request, resp: falcon.Response, segments: tuple[str, ...]
    ) -> str:
        """Answer one delivery and return its outcome (``accepted``, ``duplicate``, ``ignored``)."""
        try:
            path = read_hook_path(segments, req.method)
        except NotAWebhookPath as exc:
            raise falcon.HTTPNotFound(title="Not a webhook URL", description=str(exc)) from exc
        self._authorize(req, path.token)
        body = self._read(req)
        try:
            batch = parse_webhook(body)
        except MalformedWebhook as exc:
            raise falcon.HTTPBadRequest(title="Malformed webhook", description=str(exc)) from exc
        if not path.is_new_item(req.method):
            resp.media = {
                "received": 0,
                "duplicates": 0,
                "ignored": len(batch.messages),
                "unreadable": batch.rejected,
            }
            return "ignored"
        _warn_on_mismatch(path, batch)

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


def _warn_on_mismatch(path: HookPath, batch: WebhookBatch) -> None:
    if path.event_type and batch.event_type and path.event_type != batch.event_type:
        log.warning(
            "webhook URL names event type %r but its body is %r; reading the body as it is "
            "(check the channel's webhook URL in Whapi)",
            path.event_type,
            batch.event_type[:40],
        )


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
