"""Small but genuine files of every accepted type, and a few impostors."""

from __future__ import annotations

import io
import struct
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
            # A fixed timestamp, so the same call gives the same bytes (as pdf() does).
            entry = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
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


def ole(*streams: str) -> bytes:
    """A minimal OLE compound file (MS-CFB, 512-byte sectors) whose directory holds a
    root entry and these streams: the shape of a legacy .doc (`WordDocument`), .xls
    (`Workbook`) or a Word file with macros (`Macros`). Stream contents are empty; only
    the directory is what sniffing reads."""
    end_of_chain, free, fat_sector = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\x00" * 16,
        0x3E,  # minor version
        3,  # major version: 512-byte sectors
        0xFFFE,  # little-endian
        9,  # sector shift
        6,  # mini sector shift
        b"\x00" * 6,
        0,  # directory sectors (0 in version 3)
        1,  # FAT sectors
        1,  # first directory sector
        0,  # transaction signature
        4096,  # mini stream cut-off
        end_of_chain,  # first mini FAT sector
        0,  # mini FAT sectors
        end_of_chain,  # first DIFAT sector
        0,  # DIFAT sectors
        0,  # the FAT is sector 0
        *([free] * 108),
    )
    fat = struct.pack("<128I", fat_sector, end_of_chain, *([free] * 126))
    entries = [("Root Entry", 5), *((name, 2) for name in streams)]
    assert len(entries) <= 4, "one directory sector holds four entries"
    directory = b"".join(_ole_entry(name, kind) for name, kind in entries)
    directory += b"\x00" * (512 - len(directory))
    return header + fat + directory


def _ole_entry(name: str, kind: int) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le")
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        encoded,
        len(encoded),
        kind,
        1,  # black
        0xFFFFFFFF,  # left sibling
        0xFFFFFFFF,  # right sibling
        0xFFFFFFFF,  # child
        b"\x00" * 16,
        0,  # state bits
        0,  # created
        0,  # modified
        0xFFFFFFFE,  # start sector
        0,  # size
    )
