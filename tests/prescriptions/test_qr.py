"""QR images: a phone-grade decoder (zxing-cpp) reads back exactly the verification URL."""

from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from medhub.prescriptions.qr import (
    qr_png_base64,
    qr_png_bytes,
    qr_svg,
    verification_url,
)
from medhub.prescriptions.tokens import PrescriptionSigner, token_from_qr_data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decoded(png: bytes) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.fixture(scope="module")
def token() -> str:
    signer = PrescriptionSigner(Ed25519PrivateKey.generate())
    return signer.sign(uuid.uuid4(), "RX-20261203-0042", datetime.now(UTC) + timedelta(days=30))


@pytest.mark.parametrize(
    "base", ["https://medhub.example", "https://medhub.example/", "http://127.0.0.1:8000"]
)
def test_verification_url(base: str) -> None:
    assert verification_url(base, "a.b.c") == base.rstrip("/") + "/rx/a.b.c"


def test_the_png_decodes_to_the_exact_verification_url(token: str) -> None:
    url = verification_url("https://medhub.example", token)
    png = qr_png_bytes(url)
    assert png.startswith(PNG_SIGNATURE)
    assert decoded(png) == [url]
    assert token_from_qr_data(decoded(png)[0]) == token


def test_the_base64_png_is_the_same_image(token: str) -> None:
    url = verification_url("https://medhub.example", token)
    encoded = qr_png_base64(url)
    assert base64.b64decode(encoded, validate=True) == qr_png_bytes(url)
    assert decoded(base64.b64decode(encoded)) == [url]


def test_a_smaller_or_shrunk_image_still_decodes(token: str) -> None:
    """What a phone sees is rarely the crisp original: a downscaled, blurred copy."""
    url = verification_url("https://medhub.example", token)
    image = Image.open(io.BytesIO(qr_png_bytes(url))).convert("L")
    shrunk = image.resize((image.width // 3, image.height // 3), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    shrunk.save(buffer, format="PNG")
    assert decoded(buffer.getvalue()) == [url]


def test_error_correction_is_phone_grade(token: str) -> None:
    [barcode] = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(qr_png_bytes(verification_url("https://medhub.example", token))))
    )
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode  # never a Micro QR code
    assert barcode.ec_level in {"M", "Q", "H"}


def _rasterise(svg: str, pixels_per_module: int = 6) -> bytes:
    """The SVG's modules painted as a PNG: segno draws each row's dark runs as one path
    of `M x y` (absolute), `m dx dy` (relative) moves and `h n` runs."""
    [size] = {int(v) for v in re.findall(r'(?:width|height)="(\d+)"', svg.split(">", 1)[0])}
    scale = int(re.search(r'transform="scale\((\d+)\)"', svg).group(1))  # type: ignore[union-attr]
    modules = size // scale
    image = Image.new("L", (modules * pixels_per_module,) * 2, 255)
    path = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    x = y = 0.0
    for command, first, second in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            row = int(y - 0.5)
            for column in range(int(x), int(x + float(first))):
                box = (column * pixels_per_module, row * pixels_per_module)
                image.paste(0, (*box, box[0] + pixels_per_module, box[1] + pixels_per_module))
            x += float(first)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_svg_is_an_inline_element_of_the_same_code(token: str) -> None:
    url = verification_url("https://medhub.example", token)
    svg = qr_svg(url)
    assert svg.startswith("<svg")
    assert "<?xml" not in svg
    assert svg.endswith("</svg>")
    assert "<title>Prescription QR code</title>" in svg
    assert decoded(_rasterise(svg)) == [url]
