"""QR images of a prescription's verification URL, for the patient's email and the
prescription's page.

Error correction is at least M (15% of the symbol may be lost or smudged): a phone
camera reading a screen or a folded print-out, at the density a ~350-character URL
needs (version 14, 73 x 73 modules). segno raises it to Q or H when that fits in the
same version. The quiet zone is the standard four modules: scanners need it.

Rendering a PNG costs a few milliseconds of CPU; request handlers call these from a
bounded executor, not on the event loop.
"""

from __future__ import annotations

import base64
import io

import segno

from medhub.prescriptions.tokens import VERIFICATION_PATH

ERROR_CORRECTION = "m"
QUIET_ZONE = 4
# Pixels per module: a version-14 code is 81 modules wide with its quiet zone, so the
# PNG is 648 px: sharp in an email at any zoom, and small (a couple of KB).
PNG_SCALE = 8
SVG_SCALE = 4


def verification_url(public_base_url: str, token: str) -> str:
    """`<PUBLIC_BASE_URL>/rx/<token>`: what the QR code holds."""
    return public_base_url.rstrip("/") + VERIFICATION_PATH + token


def _symbol(data: str) -> segno.QRCode:
    # Never a Micro QR code: many phone scanners do not read them.
    return segno.make(data, error=ERROR_CORRECTION, micro=False, boost_error=True)


def qr_png_bytes(data: str, *, scale: int = PNG_SCALE) -> bytes:
    """The QR code as a PNG (black on white), for inline email images."""
    buffer = io.BytesIO()
    _symbol(data).save(buffer, kind="png", scale=scale, border=QUIET_ZONE)
    return buffer.getvalue()


def qr_png_base64(data: str, *, scale: int = PNG_SCALE) -> str:
    """The PNG in base64; a `data:image/png;base64,` URL when prefixed with that."""
    return base64.b64encode(qr_png_bytes(data, scale=scale)).decode("ascii")


def qr_svg(data: str, *, scale: int = SVG_SCALE) -> str:
    """The QR code as an inline `<svg>` element (no XML declaration), with a title for
    screen readers."""
    buffer = io.BytesIO()
    _symbol(data).save(
        buffer,
        kind="svg",
        scale=scale,
        border=QUIET_ZONE,
        xmldecl=False,
        nl=False,
        title="Prescription QR code",
    )
    return buffer.getvalue().decode("utf-8")
