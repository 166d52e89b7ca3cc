"""The files a turn shows the model: its guests' photos and PDFs, as content parts."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Any

from conserje.eventlog.events import MessageReceived
from conserje.media.store import MediaStore

__all__ = ["attachments"]

log = logging.getLogger(__name__)


def attachments(
    messages: Iterable[MessageReceived], store: MediaStore | None
) -> list[dict[str, Any]]:
    """Return ``input_image`` and ``input_file`` parts for the stored media of ``messages``.

    Media is sent only in the turn that consumes it; later turns read the mark left in
    the history ("(photo) ..."). A file no longer stored (past retention) is left out.
    """
    if store is None:
        return []
    parts: list[dict[str, Any]] = []
    for message in messages:
        media = message.media
        if media is None or not media.file or media.kind not in ("image", "document"):
            continue
        data = store.read_media(media.file)
        if data is None:
            log.warning("media file %s is gone; the model reads only its mark", media.file)
            continue
        encoded = base64.b64encode(data).decode()
        if media.kind == "image":
            mime = media.mime.partition(";")[0] or "image/jpeg"
            parts.append(
                {
                    "type": "input_image",
                    "image_url": f"data:{mime};base64,{encoded}",
                    "detail": "auto",
                }
            )
        else:
            parts.append(
                {
                    "type": "input_file",
                    "filename": media.name or media.file,
                    "file_data": f"data:application/pdf;base64,{encoded}",
                }
            )
    return parts
