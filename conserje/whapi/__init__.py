"""Whapi.Cloud: inbound webhook payloads and the outbound REST client."""

from conserje.whapi.client import WhapiClient
from conserje.whapi.inbound import (
    InboundMessage,
    InboundPresence,
    MessageKind,
    WebhookBatch,
    chat_type,
    parse_webhook,
)

__all__ = [
    "InboundMessage",
    "InboundPresence",
    "MessageKind",
    "WebhookBatch",
    "WhapiClient",
    "chat_type",
    "parse_webhook",
]
