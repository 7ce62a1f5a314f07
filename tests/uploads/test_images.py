"""Images as stored: pixels kept (upright), metadata gone, a thumbnail beside them."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from medhub.uploads.exceptions import ImageTooLarge, UnreadableImage
from medhub.uploads.images import clean_image
from tests.uploads.helpers import gps_of, has_no_metadata, image_size, photo


@pytest.mark.parametrize(
    ("orientation", "size"),
    [(None, (600, 400)), (1, (600, 400)), (3, (600, 400)), (6, (400, 600)), (8, (400, 600))],
)
def test_the_orientation_is_applied_to_the_pixels(
    orientation: int | None, size: tuple[int, int]
) -> None:
    cleaned = clean_image(photo((600, 400), orientation=orientation), "image/jpeg")

    assert (cleaned.width, cleaned.height) == size
    assert image_size(cleaned.content) == size
    assert has_no_metadata(cleaned.content)
    assert gps_of(cleaned.content) == {}


def test_an_upside_down_photo_is_turned_upright() -> None:
    # Orientation 3: stored upside down; the left half (red) is on the right once turned.
    cleaned = clean_image(photo((600, 400), orientation=3), "image/jpeg")

    with Image.open(io.BytesIO(cleaned.content)) as image:
        red, _, blue = image.convert("RGB").getpixel((20, 200))  # type: ignore[misc]
    assert blue > 150 > red


def test_a_jpeg_keeps_its_quantisation_so_its_quality() -> None:
    buffer = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(buffer, "JPEG", quality=35)
    original = buffer.getvalue()

    cleaned = clean_image(original, "image/jpeg")

    with (
        Image.open(io.BytesIO(original)) as before,
        Image.open(io.BytesIO(cleaned.content)) as after,
    ):
        assert after.quantization == before.quantization  # type: ignore[attr-defined]
    # Not inflated by an encoder's default quality (75, or more).
    assert len(cleaned.content) <= len(original) * 1.1


def test_the_colour_profile_and_transparency_stay() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = io.BytesIO()
    Image.new("RGB", (50, 50), (10, 200, 10)).save(rgb, "JPEG", icc_profile=srgb)
    palette = io.BytesIO()
    Image.new("P", (50, 50), 0).save(palette, "PNG", transparency=0)

    jpeg = clean_image(rgb.getvalue(), "image/jpeg")
    png = clean_image(palette.getvalue(), "image/png")

    with Image.open(io.BytesIO(jpeg.content)) as image:
        assert image.info["icc_profile"] == srgb
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.mode == "P"
        assert image.info["transparency"] == 0
    with Image.open(io.BytesIO(png.thumbnail)) as image:
        assert image.info["transparency"] == 0


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "I;16", "1"])
def test_png_modes_survive(mode: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (400, 100)).save(buffer, "PNG")

    cleaned = clean_image(buffer.getvalue(), "image/png")

    assert image_size(cleaned.content) == (400, 100)
    assert image_size(cleaned.thumbnail) == (256, 64)


def test_a_cmyk_jpeg_is_kept_as_a_jpeg() -> None:
    buffer = io.BytesIO()
    Image.new("CMYK", (300, 300), (0, 255, 255, 0)).save(buffer, "JPEG")

    cleaned = clean_image(buffer.getvalue(), "image/jpeg")

    with Image.open(io.BytesIO(cleaned.thumbnail)) as image:
        assert image.format == "JPEG"
        assert image.size == (256, 256)


@pytest.mark.parametrize(
    ("content", "mime_type"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
        (photo((50, 50), image_format="PNG"), "image/jpeg"),  # not the sniffed format
        (photo((50, 50))[:300], "image/jpeg"),  # cut short
    ],
)
def test_what_does_not_decode_is_unreadable(content: bytes, mime_type: str) -> None:
    with pytest.raises(UnreadableImage):
        clean_image(content, mime_type)


def test_too_many_pixels_are_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge, match="more than 10000 pixels"):
        clean_image(photo((200, 100)), "image/jpeg", max_pixels=10_000)
