"""Logging set-up, with personal data and secrets masked before anything is written."""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["MaskingFilter", "configure_logging", "mask"]

_PHONE = re.compile(r"(?<![\w.])(\+?\d{3})\d{3,10}(\d{2})(?=@|\b)(?!\.\d)")
_BEARER = re.compile(r"(Bearer\s+)[^\s\"']+", re.IGNORECASE)
_SECRET = re.compile(r"\b(sk-[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+")


def mask(text: str) -> str:
    """Hide phone numbers and tokens in ``text``: ``15552223333`` becomes ``155****33``."""
    text = _PHONE.sub(r"\1****\2", text)
    text = _BEARER.sub(r"\1****", text)
    return _SECRET.sub(r"\1****", text)


class MaskingFilter(logging.Filter):
    """Apply :func:`mask` to every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with phone numbers and tokens masked."""
        record.msg = mask(record.getMessage())
        record.args = None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send readable one-line logs to stderr, masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per HTTP call drowns the story of a turn; failures are logged by callers.
    for noisy in ("httpx2", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
