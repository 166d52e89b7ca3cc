"""``POST /hook``: where Whapi delivers every event.

The answer is Whapi's instruction: 200 means "delivered, do not send again", anything
else makes it retry with a growing delay. So 200 is given only once the messages that
need work are durably journaled, and also for deliveries that need no work (statuses,
echoes of our own sends, message types we do not handle) so Whapi does not retry them.
"""

from __future__ import annotations

import hmac
import logging

import falcon

from conserje.errors import JournalUnavailable, MalformedWebhook
from conserje.eventlog.events import MessageReceived
from conserje.runtime import Runtime
from conserje.whapi.inbound import MessageKind, parse_webhook

__all__ = ["HookResource"]

log = logging.getLogger(__name__)


class HookResource:
    """Accepts Whapi webhooks at ``/hook`` and ``/hook/{token}``."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._token = runtime.settings.webhook_token
        self._max_bytes = runtime.settings.webhook_max_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str | None = None) -> None:
        """Journal the guest messages in one delivery, then answer."""
        self._authorize(req, token)
        body = self._read(req)
        try:
            batch = parse_webhook(body)
        except MalformedWebhook as exc:
            raise falcon.HTTPBadRequest(title="Malformed webhook", description=str(exc)) from exc

        kinds = dict.fromkeys(MessageKind, 0)
        drafts: dict[str, MessageReceived] = {}
        for message in batch.messages:
            kind = batch.classify(message)
            kinds[kind] += 1
            if kind is MessageKind.GUEST_TEXT:
                drafts.setdefault(
                    message.id,
                    MessageReceived(
                        chat=message.chat_id,
                        message_id=message.id,
                        sender=message.from_name,
                        text=message.body,
                        sent_at=message.timestamp,
                    ),
                )
        fresh = self._runtime.seen.claim(drafts)
        if fresh:
            try:
                self._runtime.accept([drafts[i] for i in drafts if i in fresh])
            except JournalUnavailable as exc:
                self._runtime.seen.release(fresh)
                raise falcon.HTTPServiceUnavailable(
                    title="Journal unavailable", description=str(exc), retry_after=5
                ) from exc
        resp.media = {
            "received": len(fresh),
            "duplicates": len(drafts) - len(fresh),
            "ignored": sum(n for k, n in kinds.items() if k is not MessageKind.GUEST_TEXT),
            "unreadable": batch.rejected,
        }

    def _authorize(self, req: falcon.Request, token: str | None) -> None:
        if self._token is None:
            return
        offered = token
        if offered is None:
            scheme, _, value = (req.get_header("Authorization") or "").partition(" ")
            offered = value.strip() if scheme.lower() == "bearer" else None
        if offered is None or not hmac.compare_digest(offered.encode(), self._token.encode()):
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
