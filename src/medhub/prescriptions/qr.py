"""QR images of a prescription's verification URL, for the patient's email and the
prescription's page.

Error correction is at least M (15% of the symbol may be lost or smudged): a phone
camera reading a screen or a folded print-out, at the density a ~350-character URL
needs (version 14, 73 x 73 modules). segno raises it to Q or H when that fits in the
same version. The quiet zone is the standard four modules: scanners need it.

Rendering is pure-Python CPU work: some 50 ms for the PNG and 60 ms for the SVG of a
version-14 code. Request handlers and jobs therefore render through `render_png` and
`render_images`, on a small thread pool of this module's (`RENDER_WORKERS` threads, so
at most that many renders run at once and the rest queue), never on the event loop.
The threads do not add CPU (segno holds the GIL most of the time), but the interpreter
switches between them and the loop every few milliseconds, so other requests are not
held up for a whole render. The synchronous functions stay for scripts and tests.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import segno

from medhub.prescriptions.tokens import VERIFICATION_PATH

ERROR_CORRECTION = "m"
QUIET_ZONE = 4
# Pixels per module: a version-14 code is 81 modules wide with its quiet zone, so the
# PNG is 648 px: sharp in an email at any zoom, and small (a couple of KB).
PNG_SCALE = 8
SVG_SCALE = 4
RENDER_WORKERS = 2
RENDER_THREAD_PREFIX = "qr-render"

# One pool per process, made on first use: not tied to an event loop (tests run many).
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def verification_url(public_base_url: str, token: str) -> str:
    """`<PUBLIC_BASE_URL>/rx/<token>`: what the QR code holds."""
    return public_base_url.rstrip("/") + VERIFICATION_PATH + token


def _symbol(data: str) -> segno.QRCode:
    # Never a Micro QR code: many phone scanners do not read them.
    return segno.make(data, error=ERROR_CORRECTION, micro=False, boost_error=True)


def _png(symbol: segno.QRCode, scale: int) -> bytes:
    buffer = io.BytesIO()
    symbol.save(buffer, kind="png", scale=scale, border=QUIET_ZONE)
    return buffer.getvalue()


def _svg(symbol: segno.QRCode, scale: int) -> str:
    buffer = io.BytesIO()
    symbol.save(
        buffer,
        kind="svg",
        scale=scale,
        border=QUIET_ZONE,
        xmldecl=False,
        nl=False,
        title="Prescription QR code",
    )
    return buffer.getvalue().decode("utf-8")


def qr_png_bytes(data: str, *, scale: int = PNG_SCALE) -> bytes:
    """The QR code as a PNG (black on white), for inline email images."""
    return _png(_symbol(data), scale)


def qr_png_base64(data: str, *, scale: int = PNG_SCALE) -> str:
    """The PNG in base64; a `data:image/png;base64,` URL when prefixed with that."""
    return base64.b64encode(qr_png_bytes(data, scale=scale)).decode("ascii")


def qr_svg(data: str, *, scale: int = SVG_SCALE) -> str:
    """The QR code as an inline `<svg>` element (no XML declaration), with a title for
    screen readers."""
    return _svg(_symbol(data), scale)


def _images(data: str) -> tuple[bytes, str]:
    symbol = _symbol(data)  # built once for both
    return _png(symbol, PNG_SCALE), _svg(symbol, SVG_SCALE)


def render_executor() -> ThreadPoolExecutor:
    """The process's QR rendering pool (`RENDER_WORKERS` threads)."""
    global _executor  # noqa: PLW0603 - one pool per process, made on first use
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=RENDER_WORKERS, thread_name_prefix=RENDER_THREAD_PREFIX
            )
        return _executor


async def render_png(data: str, *, scale: int = PNG_SCALE) -> bytes:
    """`qr_png_bytes`, rendered on the QR pool, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        render_executor(), functools.partial(qr_png_bytes, data, scale=scale)
    )


async def render_images(data: str) -> tuple[bytes, str]:
    """The PNG and the SVG of one code (one symbol, one job on the QR pool)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(render_executor(), _images, data)
