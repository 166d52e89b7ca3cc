"""Photos made fit for the model: kept, downscaled, or refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from conserje.media.images import MAX_SIDE, ImageRefused, fit_image
from conserje.testing.samples import photo_jpg


def jpeg(width: int, height: int, *, noisy: bool = False) -> bytes:
    if noisy:
        image = Image.effect_noise((width, height), 120).convert("RGB")
    else:
        image = Image.new("RGB", (width, height), (10, 200, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_a_small_photo_goes_as_it_came():
    fitted = fit_image(photo_jpg(), 1_000_000)

    assert (fitted.data, fitted.mime, fitted.downscaled) == (photo_jpg(), "image/jpeg", False)


def test_a_photo_wider_than_the_api_reads_is_downscaled():
    fitted = fit_image(jpeg(4000, 1000), 10_000_000)

    assert fitted.downscaled
    assert Image.open(io.BytesIO(fitted.data)).size == (MAX_SIDE, 512)


def test_a_heavy_photo_is_shrunk_under_the_byte_limit():
    heavy = jpeg(1800, 1800, noisy=True)
    assert len(heavy) > 300_000

    fitted = fit_image(heavy, 300_000)

    assert len(fitted.data) <= 300_000
    assert fitted.mime == "image/jpeg"


def test_a_photo_that_cannot_shrink_enough_is_refused():
    with pytest.raises(ImageRefused) as refused:
        fit_image(jpeg(1500, 1500, noisy=True), 10_000)
    assert refused.value.reason == "too_large"


def test_bytes_that_are_not_an_image_are_refused():
    with pytest.raises(ImageRefused) as refused:
        fit_image(b"%PDF-1.7 not a photo", 1_000_000)
    assert refused.value.reason == "unreadable"


def test_a_tiny_file_claiming_a_huge_picture_is_refused_before_decoding():
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")

    with pytest.raises(ImageRefused) as refused:
        fit_image(bomb.getvalue(), 20_000_000)
    assert refused.value.reason == "too_large"
