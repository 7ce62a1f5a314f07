"""Images as they are stored: decoded and encoded again without their metadata, and a
thumbnail.

A phone photo of an insurance card or a wound carries EXIF: where it was taken (GPS),
when, on which device, sometimes the owner's name; PNGs carry text chunks and XMP.
None of it is kept. Decoding and encoding again keeps only the pixels: the
orientation EXIF asked for is applied to them first (`ImageOps.exif_transpose`), so
the picture still shows upright without its EXIF; the colour profile (ICC) and a
PNG's transparency are kept, since they are how the pixels look, not about the
person. A JPEG is written with its own quantisation tables and chroma subsampling, so
its quality and size stay close to the original. An animated PNG keeps its first
frame only.

CPU-bound: callers run `clean_image` in a worker thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from medhub.uploads.exceptions import ImageTooLarge, UnreadableImage

THUMBNAIL_SIZE = 256  # the longer side, in pixels
THUMBNAIL_JPEG_QUALITY = 80
# About 150 MB of RGB once decoded (turned in place, the thumbnail resized from it):
# above any phone camera's default or a scanned page at 600 dpi, far below what a
# decompression bomb asks for.
MAX_PIXELS = 50_000_000

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


@dataclass(frozen=True)
class CleanImage:
    content: bytes
    thumbnail: bytes
    width: int
    height: int


def clean_image(
    content: bytes,
    mime_type: str,
    *,
    thumbnail_size: int = THUMBNAIL_SIZE,
    max_pixels: int = MAX_PIXELS,
) -> CleanImage:
    """`content` (a JPEG or PNG, as sniffed) without metadata, and its thumbnail in the
    same format. UnreadableImage if the bytes do not decode as that format,
    ImageTooLarge past `max_pixels`."""
    image_format = _FORMATS[mime_type]
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns past ~89 million pixels (and refuses past
            # twice that); ours, from the header and before any decoding, is `max_pixels`.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[image_format]) as upright:
                if upright.width * upright.height > max_pixels:
                    raise ImageTooLarge(max_pixels)
                upright.load()
                keep = _kept_encoding(upright, image_format)
                ImageOps.exif_transpose(upright, in_place=True)
    except ImageTooLarge:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(max_pixels) from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise UnreadableImage() from exc
    # Whatever the decoder read beside the pixels (exif, xmp, text chunks, comments,
    # dpi...) goes; only what `_kept_encoding` chose is written back.
    upright.info = {}
    cleaned = _encode(upright, image_format, keep)
    preview = _shrunk(upright, thumbnail_size)
    thumbnail_options = {k: v for k, v in keep.items() if k not in {"qtables", "subsampling"}}
    if image_format == "JPEG":
        thumbnail_options["quality"] = THUMBNAIL_JPEG_QUALITY
    thumbnail = _encode(preview, image_format, thumbnail_options)
    return CleanImage(
        content=cleaned, thumbnail=thumbnail, width=upright.width, height=upright.height
    )


def _kept_encoding(source: Image.Image, image_format: str) -> dict[str, Any]:
    """The encoder options that keep the image looking as it did (never metadata)."""
    options: dict[str, Any] = {}
    icc_profile = source.info.get("icc_profile")
    if icc_profile:
        options["icc_profile"] = icc_profile
    if image_format == "PNG":
        transparency = source.info.get("transparency")
        if transparency is not None:
            options["transparency"] = transparency
        return options
    quantization = getattr(source, "quantization", None)
    if quantization:
        options["qtables"] = quantization
        sampling = JpegImagePlugin.get_sampling(source)
        if sampling >= 0:
            options["subsampling"] = sampling
    else:
        options["quality"] = 90
    return options


def _shrunk(image: Image.Image, longest: int) -> Image.Image:
    """The image within `longest` x `longest` (never enlarged), aspect kept."""
    width, height = image.size
    if max(width, height) <= longest:
        return image
    ratio = longest / max(width, height)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    # reducing_gap: a cheap reduction first, then LANCZOS on a small image.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(image: Image.Image, image_format: str, options: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG" and image.mode not in {"L", "RGB", "CMYK"}:
        image = image.convert("RGB")
    image.save(buffer, image_format, optimize=True, **options)
    return buffer.getvalue()
