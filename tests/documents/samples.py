"""Small but genuine files of every accepted type, and a few impostors."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from fpdf import FPDF

CONTENT_TYPES_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)


def pdf(text: str = "Certificate of analysis", pages: int = 1) -> bytes:
    document = FPDF()
    # A fixed date, so the same call gives the same bytes.
    document.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    document.set_font("helvetica", size=12)
    for page in range(pages):
        document.add_page()
        document.cell(text=f"{text} - page {page + 1}")
    return bytes(document.output())


def zip_of(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx(*, macros: bool = False) -> bytes:
    parts = {
        "[Content_Types].xml": CONTENT_TYPES_XML.encode(),
        "word/document.xml": b"<w:document/>",
    }
    if macros:
        parts["word/vbaProject.bin"] = b"\x00" * 16
    return zip_of(parts)


def xlsx() -> bytes:
    return zip_of(
        {"[Content_Types].xml": CONTENT_TYPES_XML.encode(), "xl/workbook.xml": b"<workbook/>"}
    )


# The smallest valid PNG (1x1, transparent) and the start of a JPEG (SOI + APP0/JFIF).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
CSV = b"manufacturer_code,quantity\nAMX-500,10\nPCM-250,4\n"
# A Windows executable (the "MZ" DOS header) dressed up as a PDF.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
