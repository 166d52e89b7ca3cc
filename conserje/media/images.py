"""Guests' photos, made fit for the model: decoded, and downscaled when too large."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

__all__ = ["MAX_SIDE", "FittedImage", "ImageRefused", "fit_image"]

MAX_SIDE = 2048
"""Longest side sent to the model; the API scales larger images down to this anyway."""

_KEPT_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_MAX_PIXELS = 50_000_000
"""Pixels decoded at most: a small file can claim a huge picture (a decompression bomb)."""


class ImageRefused(Exception):
    """The image cannot be given to the model; ``reason`` says why, for the note."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class FittedImage:
    """An image ready for the model."""

    data: bytes
    mime: str
    downscaled: bool


def fit_image(data: bytes, max_bytes: int) -> FittedImage:
    """Return the image as it may go to the model: as sent, or downscaled to JPEG.

    An image in a format the API reads, within ``max_bytes`` and :data:`MAX_SIDE`, goes
    as it is; a larger one is scaled to fit and re-encoded as JPEG, at lower quality and
    size if needed, until it is within ``max_bytes``.

    Raises:
        ImageRefused: ``unreadable`` (not an image), or ``too_large`` (still over
            ``max_bytes`` after downscaling).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > _MAX_PIXELS:
                raise ImageRefused("too_large", f"{image.width}x{image.height} pixels")
            image.load()
    except ImageRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRefused("unreadable", f"not a readable image: {exc}") from exc
    except Image.DecompressionBombWarning as exc:
        raise ImageRefused("too_large", str(exc)) from exc
    mime = _KEPT_FORMATS.get(image.format or "")
    if mime is not None and len(data) <= max_bytes and max(image.size) <= MAX_SIDE:
        return FittedImage(data, mime, downscaled=False)
    for side, quality in ((MAX_SIDE, 85), (1024, 70), (512, 60)):
        smaller = image.convert("RGB")
        smaller.thumbnail((side, side))
        out = io.BytesIO()
        smaller.save(out, "JPEG", quality=quality)
        if out.tell() <= max_bytes:
            return FittedImage(out.getvalue(), "image/jpeg", downscaled=True)
    raise ImageRefused("too_large", f"over {max_bytes} bytes even at 512 px")
